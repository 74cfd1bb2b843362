package image

import (
	"context"
	"fmt"
	"strconv"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// DiskInfo names the content of a disk image in a registry without reading
// its data: what a node-level cache needs to decide whether it has it.
type DiskInfo struct {
	// Digest is the digest of the image's top layer, the one holding the
	// disk in DVCR images; equal digests mean equal disks.
	Digest string
	// Format and VirtualBytes are the image's labels, set by Import.
	Format       string
	VirtualBytes int64
}

// Info reads the manifest and configuration of the image s names.
func (s *RegistrySource) Info(ctx context.Context) (DiskInfo, error) {
	img, ref, err := s.remoteImage(ctx)
	if err != nil {
		return DiskInfo{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return DiskInfo{}, fmt.Errorf("reading %s: %w", ref, classifyRegistry(err))
	}
	if len(layers) == 0 {
		return DiskInfo{}, fmt.Errorf("%w: image %s has no layers", ErrUnsupportedFormat, ref)
	}
	digest, err := layers[len(layers)-1].Digest()
	if err != nil {
		return DiskInfo{}, fmt.Errorf("reading %s: %w", ref, classifyRegistry(err))
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return DiskInfo{}, fmt.Errorf("reading %s configuration: %w", ref, classifyRegistry(err))
	}
	info := DiskInfo{Digest: digest.String()}
	if cfg != nil {
		info.Format = cfg.Config.Labels[LabelFormat]
		if v := cfg.Config.Labels[LabelVirtualSize]; v != "" {
			if info.VirtualBytes, err = strconv.ParseInt(v, 10, 64); err != nil {
				return DiskInfo{}, fmt.Errorf("%w: image %s label %s=%q", ErrCorrupt, ref, LabelVirtualSize, v)
			}
		}
	}
	return info, nil
}

// remoteImage resolves s to an image handle; nothing is downloaded yet
// beyond the manifest.
func (s *RegistrySource) remoteImage(ctx context.Context) (v1.Image, name.Reference, error) {
	var nameOpts []name.Option
	if s.Insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	ref, err := name.ParseReference(s.Ref, nameOpts...)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: image reference %q: %w", ErrNotFound, s.Ref, err)
	}
	auth := authn.Anonymous
	switch {
	case s.Username != "" || s.Password != "":
		auth = &authn.Basic{Username: s.Username, Password: s.Password}
	case len(s.DockerConfig) > 0:
		if auth, err = dockerConfigAuth(s.DockerConfig, ref.Context().RegistryStr()); err != nil {
			return nil, nil, err
		}
	}
	opts, err := remoteOptions(ctx, ref, s.CABundle, s.Insecure, auth, s.Policy)
	if err != nil {
		return nil, nil, err
	}
	opts = append(opts, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("pulling %s: %w", ref, classifyRegistry(err))
	}
	return img, ref, nil
}
