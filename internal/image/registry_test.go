package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestImportRegistryAuth(t *testing.T) {
	raw := rawDisk(mib)
	fs := newFileServer(t, map[string][]byte{"disk.img": raw})
	reg := newTestRegistry(t, "importer", "s3cret")

	dst := reg.dest("vi/ns/auth", "1")
	res, err := Import(importCtx(t), fs.source("disk.img"), nil, dst, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("with the right password: %v", err)
	}
	checkPushed(t, reg, dst, res, "disk.img", raw)

	bad := dst
	bad.Password = "wrong"
	before := fs.count
	_, err = Import(importCtx(t), fs.source("disk.img"), nil, bad, t.TempDir(), nil)
	mustErr(t, err, ErrRegistryAuth)
	if Reason(err) != ReasonRegistryAuth {
		t.Errorf("Reason %s", Reason(err))
	}
	if fs.count != before {
		t.Errorf("downloaded although the registry refuses the credentials")
	}
}

func TestRegistrySource(t *testing.T) {
	needQemuImg(t)
	qcow2 := convert(t, rawDisk(mib), "qcow2", 4*mib)
	reg := newTestRegistry(t, "puller", "pw")

	// A container disk as KubeVirt builds them, gzip-compressed, with an
	// unrelated layer on top.
	disk := tarLayer(t, map[string][]byte{"disk/": nil, "disk/fedora.qcow2": qcow2})
	other := tarLayer(t, map[string][]byte{"etc/": nil, "etc/motd": []byte("hello")})
	img, err := mutate.AppendLayers(empty.Image, disk, other)
	if err != nil {
		t.Fatal(err)
	}
	src := reg.dest("containerdisks/fedora", "41")
	ref, _ := src.reference()
	opts, err := src.remoteOptions(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatal(err)
	}
	dockerConfig, _ := json.Marshal(map[string]any{"auths": map[string]any{reg.host: map[string]string{"username": "puller", "password": "pw"}}})
	ca, _ := os.ReadFile(reg.caFile)

	dst := reg.dest("vi/ns/fedora", "uid")
	res, err := Import(importCtx(t), &RegistrySource{Ref: src.String(), DockerConfig: dockerConfig, CABundle: ca}, nil, dst, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if res.Format != FormatQCOW2 || res.UnpackedBytes != 4*mib || res.SourceBytes != int64(len(qcow2)) {
		t.Errorf("Result %+v", res)
	}
	checkPushed(t, reg, dst, res, "fedora.qcow2", qcow2)

	// Without credentials the source registry refuses.
	_, err = Import(importCtx(t), &RegistrySource{Ref: src.String(), CABundle: ca}, nil, dst, t.TempDir(), nil)
	mustErr(t, err, ErrRegistryAuth)

	// An image without disk/ is not a disk image.
	plain := reg.dest("containerdisks/plain", "1")
	pimg, _ := mutate.AppendLayers(empty.Image, other)
	pref, _ := plain.reference()
	if err := remote.Write(pref, pimg, opts...); err != nil {
		t.Fatal(err)
	}
	_, err = Import(importCtx(t), &RegistrySource{Ref: plain.String(), Username: "puller", Password: "pw", CABundle: ca}, nil, dst, t.TempDir(), nil)
	mustErr(t, err, ErrUnsupportedFormat)

	_, err = Import(importCtx(t), &RegistrySource{Ref: reg.host + "/containerdisks/none:1", Username: "puller", Password: "pw", CABundle: ca}, nil, dst, t.TempDir(), nil)
	mustErr(t, err, ErrNotFound)
}

func tarLayer(t *testing.T, files map[string][]byte) v1Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range sortedKeys(files) {
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}
		if strings.HasSuffix(name, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestParseDestination(t *testing.T) {
	d, err := ParseDestination("10.0.0.5:5000/vi/ns/name:3f0e-uid")
	if err != nil || d.Repository != "10.0.0.5:5000/vi/ns/name" || d.Tag != "3f0e-uid" || d.String() != "10.0.0.5:5000/vi/ns/name:3f0e-uid" {
		t.Errorf("ParseDestination = %+v, %v", d, err)
	}
	for _, bad := range []string{"", "vi/ns/name:tag", "dvcr.example/vi/ns/name", "dvcr.example/UPPER:x"} {
		if _, err := ParseDestination(bad); err == nil {
			t.Errorf("ParseDestination(%q) accepted", bad)
		}
	}
}
