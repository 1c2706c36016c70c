package privacy

import (
	"math"
	"math/rand/v2"
	"testing"
)

// stats returns the sample mean and variance of n draws of f.
func stats(n int, f func() float64) (mean, variance float64) {
	var sum, sumSq float64
	for i := 0; i < n; i++ {
		x := f()
		sum += x
		sumSq += x * x
	}
	mean = sum / float64(n)
	variance = sumSq/float64(n) - mean*mean
	return
}

func TestNoiseDistribution(t *testing.T) {
	const n = 200000
	for _, eps := range []float64{0.1, 0.5, 1, 2} {
		for _, mk := range []struct {
			name string
			new  func(float64, Source) Noiser
		}{{"laplace", LaplaceWith}, {"geometric", GeometricWith}} {
			nz := mk.new(eps, rand.NewPCG(uint64(eps*1000), 42))
			var sample func() float64
			switch z := nz.(type) {
			case *laplace:
				sample = z.Sample
			case *geometric:
				sample = func() float64 { return float64(z.Sample()) }
			}
			mean, variance := stats(n, sample)
			want := Variance(nz)
			sd := math.Sqrt(want)
			// Mean within 5 standard errors of 0; variance within 5%.
			if math.Abs(mean) > 5*sd/math.Sqrt(n) {
				t.Errorf("%s ε=%g: mean %g, want ≈0 (±%g)", mk.name, eps, mean, 5*sd/math.Sqrt(n))
			}
			if math.Abs(variance-want)/want > 0.05 {
				t.Errorf("%s ε=%g: variance %g, want %g", mk.name, eps, variance, want)
			}
		}
	}
}

// The two-sided geometric puts mass exp(-ε|x|)·(1-α)/(1+α) on x.
func TestGeometricShape(t *testing.T) {
	const n = 400000
	eps := 0.7
	g := GeometricWith(eps, rand.NewPCG(3, 4)).(*geometric)
	counts := map[int64]int{}
	for i := 0; i < n; i++ {
		counts[g.Sample()]++
	}
	a := math.Exp(-eps)
	for x := int64(-3); x <= 3; x++ {
		want := (1 - a) / (1 + a) * math.Pow(a, math.Abs(float64(x)))
		got := float64(counts[x]) / n
		if math.Abs(got-want) > 0.005 {
			t.Errorf("P(X=%d) = %.4f, want %.4f", x, got, want)
		}
	}
}

func TestPerturbRoundsAndClamps(t *testing.T) {
	for _, nz := range []Noiser{LaplaceWith(0.01, rand.NewPCG(1, 2)), GeometricWith(0.01, rand.NewPCG(1, 2))} {
		sawNegative := false
		for i := 0; i < 10000; i++ {
			v := nz.Perturb(3)
			if v < 0 {
				t.Fatalf("%s: negative count %d", nz.Label(), v)
			}
			if v == 0 {
				sawNegative = true // clamped
			}
		}
		if !sawNegative {
			t.Errorf("%s: with scale 100 around 3 some draws must have been clamped at 0", nz.Label())
		}
		if got := nz.Perturb(math.MaxInt64); got < 0 {
			t.Errorf("%s: overflow to %d", nz.Label(), got)
		}
	}
	if None.Perturb(-5) != 0 || None.Perturb(7) != 7 || None.Label() != "" {
		t.Error("None is not the identity clamped at 0")
	}
}

// Deterministic with an injected source: the same seed gives the same noise.
func TestInjectedSourceDeterministic(t *testing.T) {
	a := GeometricWith(1, rand.NewPCG(9, 9))
	b := GeometricWith(1, rand.NewPCG(9, 9))
	for i := 0; i < 100; i++ {
		if x, y := a.Perturb(1000), b.Perturb(1000); x != y {
			t.Fatalf("draw %d: %d != %d", i, x, y)
		}
	}
	// And Gate with such a source is deterministic (sorted map noise order).
	f := full(500)
	g1 := Gate(f, 100, LaplaceWith(1, rand.NewPCG(5, 5)))
	g2 := Gate(f, 100, LaplaceWith(1, rand.NewPCG(5, 5)))
	if *g1.Visitors != *g2.Visitors || g1.ByCategory["books"] != g2.ByCategory["books"] || g1.ByType["track"] != g2.ByType["track"] {
		t.Fatalf("Gate with equal sources differs: %+v vs %+v", g1, g2)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		mech  string
		eps   float64
		label string
		ok    bool
	}{
		{"none", 0, "", true},
		{"", 0, "", true},
		{"laplace", 1, "laplace(epsilon=1)", true},
		{"geometric", 0.5, "geometric(epsilon=0.5)", true},
		{"geometric", 0, "", false},
		{"laplace", -1, "", false},
		{"laplace", math.NaN(), "", false},
		{"laplace", math.Inf(1), "", false},
		{"gaussian", 1, "", false},
	} {
		n, err := New(tc.mech, tc.eps)
		if (err == nil) != tc.ok {
			t.Errorf("New(%q, %g): err = %v", tc.mech, tc.eps, err)
			continue
		}
		if err == nil && n.Label() != tc.label {
			t.Errorf("New(%q, %g).Label() = %q, want %q", tc.mech, tc.eps, n.Label(), tc.label)
		}
	}
	// Crypto-seeded sources differ between instances.
	a, b := CryptoSource(), CryptoSource()
	if a.Uint64() == b.Uint64() && a.Uint64() == b.Uint64() {
		t.Error("two crypto sources gave the same stream")
	}
}

func TestConstructorsPanicOnBadEpsilon(t *testing.T) {
	for _, f := range []func(){func() { Laplace(0) }, func() { Geometric(-1) }} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic on a bad epsilon")
				}
			}()
			f()
		}()
	}
}
