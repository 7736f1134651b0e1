package reports_test

import (
	"context"
	"flag"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gonas/nas/reports"
)

var screenshot = flag.String("screenshot", "", "also save the Chromium screenshot of the fixture's HTML report to `FILE`")

// chromium returns the path of Debian's chromium, skipping the test when it is missing outside
// CI; in CI (.ci/run installs it) a missing browser fails the test.
func chromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "" {
		t.Skip("chromium is not installed (apt-get install chromium); CI runs this test")
	}
	t.Fatalf("CI is set but chromium is not installed: %v", err)
	return ""
}

// runChromium runs headless Chromium on the page with args and returns its standard output.
func runChromium(t *testing.T, page string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--hide-scrollbars", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, chromium(t), append(append(base, args...), "file://"+page)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

func TestHTMLPageShowsThePlotsAndTablesInChromium(t *testing.T) {
	chromium(t)
	r := fixtureReport(t, reports.Options{})
	page := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	src, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	// Self-contained: no script, no stylesheet or image to fetch, no address but XML namespaces.
	for _, re := range []string{`<script`, `<link`, `<img`, `(?:src|href)=`, `url\(`,
		`https?://(?:[^w]|w[^w]|ww[^w]|www[^.]|www\.[^w]|www\.w[^3])`} {
		if loc := regexp.MustCompile(re).FindIndex(src); loc != nil {
			t.Errorf("page is not self-contained: %q at %q", re, src[loc[0]:min(loc[1]+40, len(src))])
		}
	}

	dom := string(runChromium(t, page, "--dump-dom"))
	for _, fig := range r.Figures() {
		re := regexp.MustCompile(`(?s)<figure id="figure-` + fig.Name + `">\s*<svg .*?</svg>\s*<figcaption>`)
		if !re.MatchString(dom) {
			t.Errorf("the browser's DOM has no svg in figure %s", fig.Name)
		}
	}
	if n := strings.Count(dom, "<table>"); n < len(r.Tables()) {
		t.Errorf("the browser's DOM has %d tables, want at least %d", n, len(r.Tables()))
	}
	for _, want := range []string{"<h2>Summary</h2>", "<h2>Pareto front</h2>", "<h2>Baselines and the found networks that dominate them</h2>",
		">densenet_bc_k12_mnist</text>", ">g2-ror</td>", `<details id="all-trials">`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the browser's DOM lacks %s", want)
		}
	}

	shot := filepath.Join(t.TempDir(), "report.png")
	runChromium(t, page, "--window-size=1400,1800", "--screenshot="+shot)
	img := readPNG(t, shot)
	// The bubbles are drawn in the block groups' colours: the inline SVG was rendered if some
	// pixels have them, blended with the white page at the bubbles' opacity.
	for _, want := range []struct {
		name string
		c    color.RGBA
	}{{"DenseNet red", color.RGBA{0xe1, 0x57, 0x59, 0xff}}, {"residual basic blue", color.RGBA{0x4e, 0x79, 0xa7, 0xff}}} {
		if n := pixelsNear(img, want.c, 0xc0); n < 200 {
			t.Errorf("screenshot has %d pixels of %s; the bubble chart was not drawn", n, want.name)
		}
	}
	if *screenshot != "" {
		b, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*screenshot, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// pixelsNear counts the pixels of img within a small distance of c drawn at opacity alpha over
// white.
func pixelsNear(img image.Image, c color.RGBA, alpha uint8) int {
	blend := func(v uint8) int { return (int(v)*int(alpha) + 0xff*(0xff-int(alpha))) / 0xff }
	want := [3]int{blend(c.R), blend(c.G), blend(c.B)}
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			got := [3]int{int(r >> 8), int(g >> 8), int(bl >> 8)}
			close := true
			for i := range got {
				close = close && got[i]-want[i] <= 6 && want[i]-got[i] <= 6
			}
			if close {
				n++
			}
		}
	}
	return n
}
