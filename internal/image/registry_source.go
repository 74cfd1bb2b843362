package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// RegistrySource reads the disk out of a container image: the regular file
// under disk/ (the layout of KubeVirt container disks and of DVCR). Layers
// are searched from the top; only the layer holding the disk is streamed
// to the end.
type RegistrySource struct {
	Ref string // e.g. registry.example.com/images/ubuntu:24.04
	// Username and Password, if set, win over DockerConfig.
	Username, Password string
	// DockerConfig is a docker config JSON ({"auths": ...}).
	DockerConfig []byte
	// CABundle is PEM certificates to trust besides the system roots.
	CABundle []byte
	Insecure bool // plain HTTP
	// Policy, if set, vets every address dialed (the registry, its token
	// service, redirects to blob storage); nil for DVCR.
	Policy *AddressPolicy
}

// Open finds the disk file and streams it; size is the file's size.
func (s *RegistrySource) Open(ctx context.Context) (io.ReadCloser, int64, string, error) {
	img, ref, err := s.remoteImage(ctx)
	if err != nil {
		return nil, 0, "", err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, 0, "", fmt.Errorf("pulling %s: %w", ref, classifyRegistry(err))
	}
	for i := len(layers) - 1; i >= 0; i-- {
		rc, err := layers[i].Uncompressed()
		if err != nil {
			return nil, 0, "", fmt.Errorf("pulling %s layer %d: %w", ref, i, classifyRegistry(err))
		}
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				_ = rc.Close()
				return nil, 0, "", fmt.Errorf("reading %s layer %d: %w", ref, i, classifyRegistry(err))
			}
			if isDiskFile(hdr) {
				return &diskFileReader{tr: tr, layer: rc, ref: ref.String()}, hdr.Size, path.Base(hdr.Name), nil
			}
		}
		_ = rc.Close()
	}
	return nil, 0, "", fmt.Errorf("%w: image %s has no file under disk/", ErrUnsupportedFormat, ref)
}

// isDiskFile matches disk/<name> (also ./disk/<name>), a regular file.
func isDiskFile(h *tar.Header) bool {
	p := path.Clean(strings.TrimPrefix(h.Name, "./"))
	return h.Typeflag == tar.TypeReg && path.Dir(p) == "disk" && !strings.HasPrefix(path.Base(p), ".wh.")
}

// diskFileReader streams the disk file. At its end it reads the rest of
// the layer, which lets go-containerregistry verify the layer digest and
// refuses a second disk file.
type diskFileReader struct {
	tr    *tar.Reader
	layer io.ReadCloser
	ref   string
	done  bool
}

func (r *diskFileReader) Read(p []byte) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	n, err := r.tr.Read(p)
	if err != io.EOF {
		return n, err
	}
	for {
		hdr, err := r.tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("reading %s after the disk file: %w", r.ref, err)
		}
		if isDiskFile(hdr) {
			return n, fmt.Errorf("%w: image %s has more than one file under disk/", ErrUnsupportedFormat, r.ref)
		}
	}
	if _, err := io.Copy(io.Discard, r.layer); err != nil {
		return n, fmt.Errorf("reading %s: %w", r.ref, err)
	}
	r.done = true
	return n, io.EOF
}

func (r *diskFileReader) Close() error {
	err := r.layer.Close()
	if errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	return err
}
