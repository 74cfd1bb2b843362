// Command uploadspeed measures an image upload with the command a
// VirtualImage prints (`curl -T` to the upload gateway, until the image is
// Ready), side by side in the same run with `curl -T` to a plain HTTP sink
// that only writes the body to a file. Run it inside the server's network
// namespace: bench/uploadspeed.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/virtlab/dvp/bench/internal/benchutil"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "admin kubeconfig")
	file := flag.String("file", "", "image to upload")
	listen := flag.String("listen", "", "address for the baseline sink (inside the namespace)")
	scratch := flag.String("scratch", "", "where the sink writes")
	flag.Parse()
	fi, err := os.Stat(*file)
	benchutil.Must(err)
	mib := float64(fi.Size()) / (1 << 20)

	// Baseline: curl -T into a sink that writes the body to a file.
	l, err := net.Listen("tcp", *listen)
	benchutil.Must(err)
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { //nolint:errcheck
		f, err := os.Create(filepath.Join(*scratch, "sink"))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		_, err = io.Copy(f, r.Body)
		f.Close()
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
	}))
	t0 := time.Now()
	benchutil.Run("curl", "-sf", "-T", *file, "http://"+l.Addr().String()+"/sink")
	tSink := time.Since(t0)
	os.Remove(filepath.Join(*scratch, "sink"))

	vis := benchutil.VirtualImages(*kubeconfig)
	ctx := context.Background()
	vi := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "VirtualImage",
		"metadata": map[string]any{"name": "upload-speed", "namespace": "default"},
		"spec":     map[string]any{"storage": "ContainerRegistry", "dataSource": map[string]any{"type": "Upload"}},
	}}
	_, err = vis.Create(ctx, vi, metav1.CreateOptions{})
	benchutil.Must(err)
	var command string
	for command == "" {
		got, err := vis.Get(ctx, "upload-speed", metav1.GetOptions{})
		benchutil.Must(err)
		command, _, _ = unstructured.NestedString(got.Object, "status", "uploadCommand")
		time.Sleep(50 * time.Millisecond)
	}
	command = strings.Replace(command, "example.iso", *file, 1)
	t1 := time.Now()
	tCurl := timeCommand(command)
	for {
		got, err := vis.Get(ctx, "upload-speed", metav1.GetOptions{})
		benchutil.Must(err)
		phase, _, _ := unstructured.NestedString(got.Object, "status", "phase")
		if phase == "Ready" {
			break
		}
		if phase == "Failed" {
			fmt.Println("upload failed:", got.Object["status"])
			os.Exit(1)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tReady := time.Since(t1)

	fmt.Printf("image: %.0f MiB, uploaded with curl -T over loopback\n", mib)
	fmt.Printf("%-56s %8s %10s\n", "", "seconds", "MiB/s")
	fmt.Printf("%-56s %8.2f %10.1f\n", "baseline: curl -T to a plain file sink (HTTP)", tSink.Seconds(), mib/tSink.Seconds())
	fmt.Printf("%-56s %8.2f %10.1f\n", "dvp: the printed uploadCommand (TLS), until curl exits", tCurl.Seconds(), mib/tCurl.Seconds())
	fmt.Printf("%-56s %8.2f %10.1f\n", "dvp: ... until the VirtualImage is Ready", tReady.Seconds(), mib/tReady.Seconds())
}

func timeCommand(command string) time.Duration {
	t := time.Now()
	out, err := exec.Command("sh", "-c", command+" -sf -o /dev/null").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n%s", command, err, out)
		os.Exit(1)
	}
	return time.Since(t)
}
