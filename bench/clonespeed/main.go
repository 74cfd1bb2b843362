// Command clonespeed measures how long a VirtualDisk made from a Ready
// VirtualImage takes to become Ready, for a small and a large image, side by
// side in the same run with a plain `cp` of the image file. Run it inside the
// server's network namespace: bench/clonespeed.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/virtlab/dvp/bench/internal/benchutil"
)

const clones = 5

func main() {
	kubeconfig := flag.String("kubeconfig", "", "admin kubeconfig")
	files := flag.String("files", "", "comma-separated qcow2 images to serve and clone")
	addr := flag.String("listen", "", "address to serve the files on (inside the namespace)")
	dataDir := flag.String("data-dir", "", "server data dir (for the baseline copy and the cache)")
	class := flag.String("storage-class", "", "StorageClass of the disks (Immediate binding)")
	flag.Parse()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	benchutil.Must(err)
	cfg.QPS, cfg.Burst = 200, 400 // polling must not be throttled
	dyn, err := dynamic.NewForConfig(cfg)
	benchutil.Must(err)
	res := func(r string) dynamic.ResourceInterface {
		return dyn.Resource(schema.GroupVersionResource{Group: "virtualization.deckhouse.io", Version: "v1alpha2", Resource: r}).Namespace("default")
	}
	vis, vds := res("virtualimages"), res("virtualdisks")
	ctx := context.Background()

	fmt.Printf("%-12s %-44s %10s %10s %10s\n", "image", "", "min ms", "p50 ms", "max ms")
	for i, file := range strings.Split(*files, ",") {
		fi, err := os.Stat(file)
		benchutil.Must(err)
		l, err := net.Listen("tcp", *addr)
		benchutil.Must(err)
		go http.Serve(l, http.FileServer(http.Dir(filepath.Dir(file)))) //nolint:errcheck
		url := "http://" + l.Addr().String() + "/" + filepath.Base(file)
		label := fmt.Sprintf("%d MiB", fi.Size()>>20)

		// Baseline: a plain copy of the image file on the same disk.
		var base []time.Duration
		for n := range clones {
			dst := filepath.Join(*dataDir, fmt.Sprintf("cp-%d", n))
			t0 := time.Now()
			benchutil.Run("sh", "-c", fmt.Sprintf("cp %q %q && sync %q", file, dst, dst))
			base = append(base, time.Since(t0))
			os.Remove(dst)
		}
		report(label, "baseline: cp image file (+ sync)", base)

		name := fmt.Sprintf("img-%d", i)
		_, err = vis.Create(ctx, object("VirtualImage", name, map[string]any{
			"storage": "ContainerRegistry", "dataSource": map[string]any{"type": "HTTP", "http": map[string]any{"url": url}},
		}), metav1.CreateOptions{})
		benchutil.Must(err)
		waitPhase(ctx, vis, name, "Ready")
		// The cache is filled when the image becomes Ready; wait for it
		// so that what is measured is the clone.
		waitCached(*dataDir)

		var dvp []time.Duration
		for n := range clones {
			vd := fmt.Sprintf("%s-disk-%d", name, n)
			t0 := time.Now()
			_, err := vds.Create(ctx, object("VirtualDisk", vd, map[string]any{
				"persistentVolumeClaim": map[string]any{"storageClassName": *class},
				"dataSource":            map[string]any{"type": "ObjectRef", "objectRef": map[string]any{"kind": "VirtualImage", "name": name}},
			}), metav1.CreateOptions{})
			benchutil.Must(err)
			waitPhase(ctx, vds, vd, "Ready")
			dvp = append(dvp, time.Since(t0))
		}
		report(label, "dvp: VirtualDisk from VirtualImage -> Ready", dvp)
		l.Close()
	}
}

func object(kind, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": "default"},
		"spec":     spec,
	}}
}

func waitPhase(ctx context.Context, c dynamic.ResourceInterface, name, want string) {
	for {
		got, err := c.Get(ctx, name, metav1.GetOptions{})
		benchutil.Must(err)
		phase, _, _ := unstructured.NestedString(got.Object, "status", "phase")
		if phase == want {
			return
		}
		if phase == "Failed" {
			fmt.Fprintln(os.Stderr, name, "failed:", got.Object["status"])
			os.Exit(1)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitCached waits until the image cache holds no entry being written and
// at least one complete entry more than before.
var seen int

func waitCached(dataDir string) {
	for {
		es, _ := os.ReadDir(filepath.Join(dataDir, "image-cache"))
		done, writing := 0, false
		for _, e := range es {
			if strings.HasPrefix(e.Name(), ".tmp-") {
				writing = true
			} else {
				done++
			}
		}
		if done > seen && !writing {
			seen = done
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func report(image, what string, ds []time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Printf("%-12s %-44s %10.0f %10.0f %10.0f\n", image, what, ms(ds[0]), ms(ds[len(ds)/2]), ms(ds[len(ds)-1]))
}
