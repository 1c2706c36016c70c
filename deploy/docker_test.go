package deploy_test

// Checks of the Dockerfile and .dockerignore, and the Dockerfile's build
// run for real (without Docker, which the development machines cannot run).

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// ---------------------------------------------------------------------------
// Dockerfile and .dockerignore

type instruction struct {
	cmd, args string
	line      int
}

func dockerfile(t *testing.T) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(string(readFile(t, "Dockerfile")), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " "), start})
		cur.Reset()
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := dockerfile(t)
	var froms, runs []instruction
	last := map[string]instruction{}
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			froms = append(froms, in)
		case "RUN":
			runs = append(runs, in)
		}
		last[in.cmd] = in
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got %d FROM", len(froms))
	}
	image := func(from string) string {
		for _, f := range strings.Fields(from) {
			if !strings.HasPrefix(f, "--") {
				return f
			}
		}
		return ""
	}
	if img := image(froms[0].args); img != "golang:1.26" {
		t.Errorf("build stage image %q, want golang:1.26 (go.mod says go 1.26)", img)
	}
	if img := image(froms[len(froms)-1].args); img != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("runtime image %q, want gcr.io/distroless/static-debian12:nonroot", img)
	}
	var build string
	for _, r := range runs {
		if strings.Contains(r.args, "go build") {
			build = r.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "go build", "-trimpath", `-ldflags "-s -w -X main.version=$VERSION"`, "-o /personas", "./cmd/personas"} {
		if !strings.Contains(build, want) {
			t.Errorf("the go build step %q lacks %q", build, want)
		}
	}
	checks := map[string]string{
		"ENTRYPOINT": `["/personas"]`,
		"CMD":        `["run"]`,
		"EXPOSE":     "9464",
		"USER":       "nonroot:nonroot",
	}
	for cmd, want := range checks {
		if got := last[cmd].args; got != want {
			t.Errorf("%s %q, want %q", cmd, got, want)
		}
	}
	// ENTRYPOINT and CMD after the last FROM, so they apply to the runtime image.
	for _, cmd := range []string{"ENTRYPOINT", "CMD", "USER", "EXPOSE"} {
		if last[cmd].line < froms[len(froms)-1].line {
			t.Errorf("%s belongs to the runtime stage", cmd)
		}
	}
	if copyIn := last["COPY"].args; !strings.Contains(copyIn, "--from=build /personas /personas") {
		t.Errorf("last COPY %q should take the binary from the build stage", copyIn)
	}
	if last["HEALTHCHECK"].cmd != "" {
		t.Error("distroless has no shell or HTTP client: a HEALTHCHECK cannot run there")
	}
	// -X main.version only works while the variable exists.
	if !regexp.MustCompile(`(?m)^var version = `).Match(readFile(t, "cmd/personas/root.go")) {
		t.Error("cmd/personas no longer declares `var version`: -X main.version in the Dockerfile does nothing")
	}
}

func TestDockerignore(t *testing.T) {
	var patterns []string
	for _, line := range strings.Split(string(readFile(t, ".dockerignore")), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			t.Fatalf(".dockerignore: exceptions (%s) are not handled by this test; extend it", line)
		}
		patterns = append(patterns, strings.TrimPrefix(path.Clean(line), "/"))
	}
	for _, want := range []string{".cache", ".services", "bin", ".git"} {
		if !slices.Contains(patterns, want) {
			t.Errorf(".dockerignore should exclude %s", want)
		}
	}
	// Nothing the build needs may be excluded: go.mod, go.sum and every
	// package of this module that ./cmd/personas imports (with its embedded
	// files, which live in the package directories).
	needed := []string{"go.mod", "go.sum"}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH; cannot list the packages ./cmd/personas needs")
	}
	cmd := exec.Command(gobin, "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", "./cmd/personas")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	abs, _ := filepath.Abs(root)
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(abs, dir)
		if err != nil {
			t.Fatal(err)
		}
		needed = append(needed, filepath.ToSlash(rel))
	}
	if len(needed) < 4 {
		t.Fatalf("go list found only %v", needed)
	}
	for _, p := range needed {
		if pat := ignoredBy(patterns, p); pat != "" {
			t.Errorf(".dockerignore pattern %q excludes %s, which the build needs", pat, p)
		}
	}
}

// ignoredBy returns the pattern that excludes p (or one of its parent
// directories) from the build context, as Docker matches them.
func ignoredBy(patterns []string, p string) string {
	parts := strings.Split(p, "/")
	for _, pat := range patterns {
		for i := 1; i <= len(parts); i++ {
			if ok, _ := path.Match(pat, strings.Join(parts[:i], "/")); ok {
				return pat
			}
		}
	}
	return ""
}

// TestDockerBuildCommand runs the Dockerfile's go build (same flags, same
// package) and the commands docker-compose.yml gives the image, since
// nothing here can build or run the image itself.
func TestDockerBuildCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	bin := filepath.Join(t.TempDir(), "personas")
	build := exec.Command(gobin, "build", "-trimpath", "-ldflags", "-s -w -X main.version=deploy-test", "-o", bin, "./cmd/personas")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build fails: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "personas deploy-test" {
		t.Errorf("personas version = %q (%v), want the -X main.version value", out, err)
	}
	// Every command compose runs must parse: flags and subcommand exist.
	c := loadCompose(t)
	for _, name := range []string{"personas", "generator"} {
		args := append(strList(c.service(t, name)["command"]), "--help")
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Errorf("service %s: personas %v fails: %v\n%s", name, args, err, out)
		}
	}
}
