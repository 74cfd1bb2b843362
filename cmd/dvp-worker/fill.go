package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/virtlab/dvp/internal/image"
)

// runFill is `dvp-worker fill`: it writes the disk of an image in DVCR onto
// the pod's disk volume, as the vd-importer pod of a VirtualDisk. Settings
// come from the environment: FILL_SOURCE (image reference), FILL_AUTH_FILE
// (docker config JSON), FILL_CA_FILE, FILL_TARGET (the volume's device path)
// and FILL_SCRATCH; paths resolve under DVP_ROOT as for import.
func runFill(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) int {
	root := getenv("DVP_ROOT")
	termLog := getenv("DVP_TERMINATION_LOG")
	if termLog == "" {
		termLog = resolvePath(root, "/dev/termination-log")
	}
	ref, target := getenv("FILL_SOURCE"), resolvePath(root, getenv("FILL_TARGET"))
	if ref == "" || target == "" {
		return fail(termLog, stderr, fmt.Errorf("FILL_SOURCE and FILL_TARGET are required"), reasonConfig)
	}
	src := &image.RegistrySource{Ref: ref}
	if p := resolvePath(root, getenv("FILL_AUTH_FILE")); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return fail(termLog, stderr, err, reasonConfig)
		}
		src.DockerConfig = b
	} else if getenv(image.DVCRCredentialsEnv) != "" {
		// Credentials from the node runtime, bound to this pod.
		var err error
		if src.Username, src.Password, err = image.DVCRCredentials(getenv, ref, false); err != nil {
			return fail(termLog, stderr, err, reasonConfig)
		}
	}
	if p := resolvePath(root, getenv("FILL_CA_FILE")); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return fail(termLog, stderr, err, reasonConfig)
		}
		src.CABundle = b
	}
	scratch := resolvePath(root, getenv("FILL_SCRATCH"))
	if scratch == "" {
		// As for import: under the container root, so under the data
		// directory, when run by the node.
		dir, err := os.MkdirTemp(root, "dvp-fill-")
		if err != nil {
			return fail(termLog, stderr, err, reasonConfig)
		}
		defer os.RemoveAll(dir)
		scratch = dir
	}
	start := time.Now()
	p := &progressPrinter{w: stdout, total: -1, last: start}
	fmt.Fprintf(stderr, "fill: %s -> %s\n", ref, target)
	var res image.FillResult
	_, err := p.run(func() (image.Result, error) {
		var err error
		res, err = image.Fill(ctx, src, target, scratch, p.update)
		return image.Result{}, err
	})
	if err != nil {
		return fail(termLog, stderr, err, image.Reason(err))
	}
	b, _ := json.Marshal(res)
	if err := os.WriteFile(termLog, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintf(stderr, "fill: writing the termination message: %v\n", err)
	}
	fmt.Fprintf(stderr, "fill: done in %s: %s\n", time.Since(start).Round(time.Millisecond), b)
	return 0
}
