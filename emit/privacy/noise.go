package privacy

import (
	crand "crypto/rand"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
)

// Noiser adds noise to one published count. Perturb returns the noisy count
// rounded to an integer and clamped at 0; the gate clamps it further at k.
// Implementations are safe for concurrent use.
type Noiser interface {
	Perturb(count int64) int64
	// Label names the mechanism and epsilon for the "noise" field of
	// published figures, like "geometric(epsilon=1)"; empty for None.
	Label() string
}

// Source is a source of uniformly distributed 64-bit values (math/rand/v2's
// Source). Tests inject a seeded one; production uses CryptoSource.
type Source interface{ Uint64() uint64 }

// None adds no noise.
var None Noiser = noNoise{}

type noNoise struct{}

func (noNoise) Perturb(v int64) int64 { return max(v, 0) }
func (noNoise) Label() string         { return "" }

// Mechanism names accepted by New.
const (
	MechanismNone      = "none"
	MechanismLaplace   = "laplace"
	MechanismGeometric = "geometric"
)

// New returns the Noiser named by mechanism ("none", "laplace",
// "geometric") with the given epsilon, drawing from CryptoSource. Epsilon is
// ignored for none.
func New(mechanism string, epsilon float64) (Noiser, error) {
	switch mechanism {
	case MechanismNone, "":
		return None, nil
	case MechanismLaplace, MechanismGeometric:
		if err := validEpsilon(epsilon); err != nil {
			return nil, err
		}
		if mechanism == MechanismLaplace {
			return LaplaceWith(epsilon, CryptoSource()), nil
		}
		return GeometricWith(epsilon, CryptoSource()), nil
	}
	return nil, fmt.Errorf("noise mechanism %q is not none, laplace or geometric", mechanism)
}

// Epsilon bounds: below 1e-6 the noise scale dwarfs any count; above 100
// the noise is gone.
const (
	minEpsilon = 1e-6
	maxEpsilon = 100
)

func validEpsilon(eps float64) error {
	if math.IsNaN(eps) || eps < minEpsilon || eps > maxEpsilon {
		return fmt.Errorf("noise epsilon %g is out of range [%g, %g]", eps, float64(minEpsilon), float64(maxEpsilon))
	}
	return nil
}

// Laplace returns the Laplace mechanism with scale 1/epsilon (sensitivity 1)
// drawing from CryptoSource. The noisy value is rounded to the nearest
// integer. It panics on an epsilon outside [1e-6, 100]; use New for
// configuration values.
func Laplace(epsilon float64) Noiser { return LaplaceWith(epsilon, CryptoSource()) }

// LaplaceWith is Laplace drawing from src.
func LaplaceWith(epsilon float64, src Source) Noiser {
	if err := validEpsilon(epsilon); err != nil {
		panic("privacy: " + err.Error())
	}
	return &laplace{eps: epsilon, src: src}
}

type laplace struct {
	eps float64
	src Source
}

func (l *laplace) Perturb(v int64) int64 {
	return roundClamp(float64(v) + l.Sample())
}

// Sample draws one Laplace(0, 1/ε) value: a random sign times an
// exponential with rate ε.
func (l *laplace) Sample() float64 {
	r := l.src.Uint64()
	x := -math.Log(unitOpen(r)) / l.eps
	if r&1 == 1 {
		return -x
	}
	return x
}

func (l *laplace) Label() string { return "laplace(epsilon=" + fmtEps(l.eps) + ")" }

// Geometric returns the two-sided geometric mechanism (the discrete
// Laplace): integer noise with P(X = x) ∝ exp(-ε·|x|), sensitivity 1,
// drawing from CryptoSource. Being integer-valued it has none of the
// floating-point artefacts of a rounded Laplace sample. It panics on an
// epsilon outside [1e-6, 100]; use New for configuration values.
func Geometric(epsilon float64) Noiser { return GeometricWith(epsilon, CryptoSource()) }

// GeometricWith is Geometric drawing from src.
func GeometricWith(epsilon float64, src Source) Noiser {
	if err := validEpsilon(epsilon); err != nil {
		panic("privacy: " + err.Error())
	}
	return &geometric{eps: epsilon, lnAlpha: -epsilon, src: src}
}

type geometric struct {
	eps     float64
	lnAlpha float64 // ln(exp(-ε)) = -ε
	src     Source
}

func (g *geometric) Perturb(v int64) int64 {
	n := g.Sample()
	if n > 0 && v > math.MaxInt64-n {
		return math.MaxInt64
	}
	return max(v+n, 0)
}

// Sample draws one two-sided geometric value as the difference of two
// independent one-sided geometric values on {0, 1, ...} with
// P(G ≥ g) = α^g, α = exp(-ε).
func (g *geometric) Sample() int64 { return g.oneSided() - g.oneSided() }

// maxGeometric bounds one one-sided draw: far beyond any plausible value
// (it is hit with probability α^(2^52)), it only keeps the conversion to
// int64 defined.
const maxGeometric = 1 << 52

func (g *geometric) oneSided() int64 {
	// Inversion: G = ⌊ln U / ln α⌋ has P(G ≥ g) = P(U ≤ α^g) = α^g.
	x := math.Floor(math.Log(unitOpen(g.src.Uint64())) / g.lnAlpha)
	if x >= maxGeometric || math.IsNaN(x) {
		return maxGeometric
	}
	return int64(x)
}

func (g *geometric) Label() string { return "geometric(epsilon=" + fmtEps(g.eps) + ")" }

// Variance returns the variance of a single noise draw of n (for tests and
// documentation): 2/ε² for Laplace, 2α/(1-α)² for the two-sided geometric.
func Variance(n Noiser) float64 {
	switch n := n.(type) {
	case *laplace:
		return 2 / (n.eps * n.eps)
	case *geometric:
		a := math.Exp(-n.eps)
		return 2 * a / ((1 - a) * (1 - a))
	}
	return 0
}

// unitOpen maps the top 53 bits of r to a uniform float64 in the open
// interval (0, 1): never 0, so its logarithm is finite.
func unitOpen(r uint64) float64 {
	return (float64(r>>11) + 0.5) / (1 << 53)
}

func roundClamp(x float64) int64 {
	x = math.Round(x)
	switch {
	case math.IsNaN(x) || x <= 0:
		return 0
	case x >= math.MaxInt64:
		return math.MaxInt64
	}
	return int64(x)
}

func fmtEps(eps float64) string { return strconv.FormatFloat(eps, 'g', -1, 64) }

// CryptoSource returns a ChaCha8 stream (a cryptographically strong
// generator) seeded from crypto/rand, safe for concurrent use. The seed never
// leaves the process, so the noise cannot be predicted or replayed from
// outside.
func CryptoSource() Source {
	var seed [32]byte
	// crypto/rand.Read never returns an error (Go 1.24+); it crashes the
	// program if the system's generator fails, which is what we want.
	_, _ = crand.Read(seed[:])
	return &lockedSource{src: rand.NewChaCha8(seed)}
}

type lockedSource struct {
	mu  sync.Mutex
	src *rand.ChaCha8
}

func (s *lockedSource) Uint64() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.src.Uint64()
}
