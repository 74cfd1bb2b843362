package image

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Config labels of a DVCR image, as upstream writes them.
const (
	LabelSize        = "source-image-size"
	LabelVirtualSize = "source-image-virtual-size"
	LabelFormat      = "source-image-format"
)

// open resolves the destination and checks that the registry takes these
// credentials, before any data is read.
func (d Destination) open(ctx context.Context) (name.Reference, []remote.Option, error) {
	ref, err := d.reference()
	if err != nil {
		return nil, nil, err
	}
	opts, err := d.remoteOptions(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	if err := preflight(ref, opts); err != nil {
		return nil, nil, err
	}
	return ref, opts, nil
}

// preflight asks the registry for the tag before the download, so wrong
// credentials or an unknown host fail in a second rather than after
// gigabytes. Other errors are left for the push to report.
func preflight(ref name.Reference, opts []remote.Option) error {
	_, err := remote.Head(ref, opts...)
	if err == nil {
		return nil
	}
	if err := classifyRegistry(err); errors.Is(err, ErrRegistryAuth) || errors.Is(err, ErrDNS) {
		return fmt.Errorf("registry %s: %w", ref.Context().RegistryStr(), err)
	}
	return nil
}

// pushDisk stores the image of one disk layer as ref and returns the
// manifest digest.
func pushDisk(ref name.Reference, opts []remote.Option, layer v1.Layer, format string, size, virtual int64) (string, error) {
	img, err := buildImage(layer, format, size, virtual)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, classifyRegistry(err))
	}
	digest, err := img.Digest()
	if err != nil {
		return "", err
	}
	return digest.String(), nil
}

func buildImage(layer v1.Layer, format string, size, virtual int64) (v1.Image, error) {
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, MediaType: types.OCIUncompressedLayer})
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Labels = map[string]string{
		LabelSize:        strconv.FormatInt(size, 10),
		LabelVirtualSize: strconv.FormatInt(virtual, 10),
		LabelFormat:      format,
	}
	return mutate.ConfigFile(img, cf)
}

// CopyImage copies an image DVCR already holds to another repository
// without downloading it again (the registry mounts the blobs when the
// credentials allow it, else they are streamed through). The Result comes
// from the image's config labels; SourceBytes is the size of its layers.
func CopyImage(ctx context.Context, from, to Destination) (Result, error) {
	fromRef, err := from.reference()
	if err != nil {
		return Result{}, err
	}
	toRef, err := to.reference()
	if err != nil {
		return Result{}, err
	}
	fromOpts, err := from.remoteOptions(ctx, fromRef)
	if err != nil {
		return Result{}, err
	}
	toOpts, err := to.remoteOptions(ctx, toRef)
	if err != nil {
		return Result{}, err
	}
	img, err := remote.Image(fromRef, fromOpts...)
	if err != nil {
		return Result{}, fmt.Errorf("reading %s: %w", fromRef, classifyRegistry(err))
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Result{}, fmt.Errorf("reading %s: %w", fromRef, classifyRegistry(err))
	}
	res, err := resultFromLabels(cf.Config.Labels)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", fromRef, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return Result{}, fmt.Errorf("reading %s: %w", fromRef, classifyRegistry(err))
	}
	for _, l := range m.Layers {
		res.SourceBytes += l.Size
	}
	if err := remote.Write(toRef, img, toOpts...); err != nil {
		return Result{}, fmt.Errorf("pushing %s: %w", toRef, classifyRegistry(err))
	}
	digest, err := img.Digest()
	if err != nil {
		return Result{}, err
	}
	res.Digest = digest.String()
	return res, nil
}

func resultFromLabels(labels map[string]string) (Result, error) {
	format := labels[LabelFormat]
	if format == "" {
		return Result{}, fmt.Errorf("%w: not a disk image (no %s label)", ErrUnsupportedFormat, LabelFormat)
	}
	size, err1 := strconv.ParseInt(labels[LabelSize], 10, 64)
	virtual, err2 := strconv.ParseInt(labels[LabelVirtualSize], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return Result{}, fmt.Errorf("%w: size labels: %w", ErrCorrupt, err)
	}
	return Result{Format: format, CDROM: format == FormatISO, StoredBytes: size, UnpackedBytes: virtual}, nil
}
