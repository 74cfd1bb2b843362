// Command importspeed measures a VirtualImage import over HTTP, side by side
// in the same run with the baseline a user would otherwise script:
// `curl -o file && qemu-img convert`. It also samples the importer process's
// peak memory. Run it inside the server's network namespace:
// bench/importspeed.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/virtlab/dvp/bench/internal/benchutil"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "admin kubeconfig")
	file := flag.String("file", "", "qcow2 image to serve")
	addr := flag.String("listen", "", "address to serve the file on (inside the namespace)")
	dataDir := flag.String("data-dir", "", "server data dir (to find the importer process)")
	scratch := flag.String("scratch", "", "scratch dir for the baseline")
	flag.Parse()
	fi, err := os.Stat(*file)
	benchutil.Must(err)
	l, err := net.Listen("tcp", *addr)
	benchutil.Must(err)
	go http.Serve(l, http.FileServer(http.Dir(filepath.Dir(*file)))) //nolint:errcheck
	url := "http://" + l.Addr().String() + "/" + filepath.Base(*file)
	mib := float64(fi.Size()) / (1 << 20)

	// Baseline: download to a file, then convert, as CDI-style importers do.
	out := filepath.Join(*scratch, "baseline.qcow2")
	t0 := time.Now()
	benchutil.Run("curl", "-sf", "-o", out, url)
	tDownload := time.Since(t0)
	benchutil.Run("qemu-img", "convert", "-O", "raw", out, out+".raw")
	tBaseline := time.Since(t0)
	os.Remove(out)
	os.Remove(out + ".raw")

	vis := benchutil.VirtualImages(*kubeconfig)
	vi := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "VirtualImage",
		"metadata": map[string]any{"name": "speed", "namespace": "default"},
		"spec":     map[string]any{"storage": "ContainerRegistry", "dataSource": map[string]any{"type": "HTTP", "http": map[string]any{"url": url}}},
	}}
	ctx := context.Background()
	t1 := time.Now()
	_, err = vis.Create(ctx, vi, metav1.CreateOptions{})
	benchutil.Must(err)
	var peakKiB int64
	for {
		got, err := vis.Get(ctx, "speed", metav1.GetOptions{})
		benchutil.Must(err)
		phase, _, _ := unstructured.NestedString(got.Object, "status", "phase")
		if phase == "Ready" || phase == "Failed" {
			if phase == "Failed" {
				fmt.Println("import failed:", got.Object["status"])
				os.Exit(1)
			}
			break
		}
		if k := importerPeak(*dataDir); k > peakKiB {
			peakKiB = k
		}
		time.Sleep(50 * time.Millisecond)
	}
	tImport := time.Since(t1)

	fmt.Printf("image: %.0f MiB qcow2 over HTTP on loopback\n", mib)
	fmt.Printf("%-58s %8s %10s\n", "", "seconds", "MiB/s")
	fmt.Printf("%-58s %8.2f %10.1f\n", "baseline: curl -o (download only)", tDownload.Seconds(), mib/tDownload.Seconds())
	fmt.Printf("%-58s %8.2f %10.1f\n", "baseline: curl -o && qemu-img convert -O raw", tBaseline.Seconds(), mib/tBaseline.Seconds())
	fmt.Printf("%-58s %8.2f %10.1f\n", "dvp: VirtualImage create -> Ready (into DVCR)", tImport.Seconds(), mib/tImport.Seconds())
	fmt.Printf("importer peak RSS (VmHWM): %d KiB\n", peakKiB)
}

// importerPeak finds the running `dvp-worker import` process under dataDir
// and returns its peak resident set.
func importerPeak(dataDir string) int64 {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var best int64
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "dvp-worker\x00import") {
			continue
		}
		cwd, _ := os.Readlink(filepath.Join(filepath.Dir(p), "cwd"))
		if !strings.HasPrefix(cwd, dataDir) {
			continue
		}
		st, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "status"))
		for _, line := range strings.Split(string(st), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
				if k, _ := strconv.ParseInt(f[1], 10, 64); k > best {
					best = k
				}
			}
		}
	}
	return best
}
