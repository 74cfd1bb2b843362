package node

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"

	"github.com/virtlab/dvp/internal/supervisor"
)

// GetContainerLogs serves `kubectl logs` from the supervisor's log file.
func (p *Provider) GetContainerLogs(ctx context.Context, namespace, podName, containerName string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	p.mu.Lock()
	e, ok := p.pods[key(namespace, podName)]
	p.mu.Unlock()
	if !ok {
		return nil, errdefs.NotFound("pod not known to this node")
	}
	f, err := os.Open(filepath.Join(containerDir(e.dir, containerName), supervisor.LogFile))
	if errors.Is(err, os.ErrNotExist) {
		return io.NopCloser(strings.NewReader("")), nil
	}
	if err != nil {
		return nil, err
	}
	if opts.Tail > 0 {
		return tail(f, opts.Tail)
	}
	if opts.Follow {
		return &follower{f: f, ctx: ctx, dir: containerDir(e.dir, containerName)}, nil
	}
	return f, nil
}

func tail(f *os.File, n int) (io.ReadCloser, error) {
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return io.NopCloser(strings.NewReader(strings.Join(lines, ""))), nil
}

// follower streams a log file as it grows until the container exits.
type follower struct {
	f   *os.File
	ctx context.Context
	dir string
}

func (r *follower) Read(b []byte) (int, error) {
	for {
		n, err := r.f.Read(b)
		if n > 0 || (err != nil && err != io.EOF) {
			return n, err
		}
		if st, err := supervisor.ReadState(r.dir); err == nil && st.Phase == supervisor.PhaseExited {
			return 0, io.EOF
		}
		select {
		case <-r.ctx.Done():
			return 0, io.EOF
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *follower) Close() error { return r.f.Close() }
