package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"
)

// metaData is the part of NoCloud meta-data the guest uses.
type metaData struct {
	InstanceID    string
	LocalHostname string
}

// seed is what was read from the NoCloud volume.
type seed struct {
	device   string
	meta     metaData
	userData []byte // #cloud-config text (nil when absent or a script)
	script   []byte // user-data that is a #! script
}

// ISO 9660: the primary volume descriptor is sector 16 (2048-byte sectors);
// "CD001" sits at byte 1 of it and the volume id at bytes 40..71.
const (
	isoPVDOffset = 16 * 2048
	seedLabel    = "cidata"
)

// findSeed looks for the NoCloud volume until it shows up or wait passes.
// Drivers probe in the background after their modules load, so the first
// scans may see nothing.
func findSeed(wait time.Duration) seed {
	deadline := time.Now().Add(wait)
	for {
		for _, dev := range candidateDevices() {
			if !isSeedVolume("/dev/" + dev) {
				continue
			}
			s, err := readSeed("/dev/" + dev)
			if err != nil {
				logf("seed on %s: %v", dev, err)
				continue
			}
			logf("NoCloud seed on /dev/%s (instance-id %s)", dev, s.meta.InstanceID)
			return s
		}
		if time.Now().After(deadline) {
			logf("no NoCloud seed (ISO 9660 volume %q) found; booting without one", seedLabel)
			return seed{meta: metaData{InstanceID: "none"}}
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// candidateDevices lists CD-ROMs first, then virtio and SCSI/SATA disks.
func candidateDevices() []string {
	entries, err := os.ReadDir("/sys/block")
	if err != nil {
		return nil
	}
	rank := map[string]int{"sr": 0, "vd": 1, "sd": 2}
	var out []string
	for _, e := range entries {
		if len(e.Name()) > 2 {
			if _, ok := rank[e.Name()[:2]]; ok {
				out = append(out, e.Name())
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank[out[i][:2]], rank[out[j][:2]]
		if ri != rj {
			return ri < rj
		}
		return out[i] < out[j]
	})
	return out
}

// isSeedVolume reports whether dev holds an ISO 9660 file system whose
// volume id is cidata (in any case).
func isSeedVolume(dev string) bool {
	f, err := os.Open(dev)
	if err != nil {
		return false
	}
	defer f.Close()
	pvd := make([]byte, 2048)
	if _, err := f.ReadAt(pvd, isoPVDOffset); err != nil {
		return false
	}
	return seedVolumeID(pvd)
}

func seedVolumeID(pvd []byte) bool {
	if len(pvd) < 72 || pvd[0] != 1 || string(pvd[1:6]) != "CD001" {
		return false
	}
	id := strings.TrimRight(string(pvd[40:72]), " \x00")
	return strings.EqualFold(id, seedLabel)
}

func readSeed(dev string) (seed, error) {
	s := seed{device: dev}
	if err := os.MkdirAll(seedMount, 0o755); err != nil {
		return s, err
	}
	if err := syscall.Mount(dev, seedMount, "iso9660", syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV, ""); err != nil {
		return s, fmt.Errorf("mount: %w", err)
	}
	defer syscall.Unmount(seedMount, 0)

	meta, err := readSeedFile("meta-data")
	if err != nil {
		return s, err
	}
	if s.meta, err = parseMetaData(meta); err != nil {
		return s, fmt.Errorf("meta-data: %w", err)
	}
	ud, err := readSeedFile("user-data")
	if err != nil && !os.IsNotExist(err) {
		return s, err
	}
	switch {
	case bytes.HasPrefix(ud, []byte("#!")):
		s.script = ud
	case len(ud) > 0:
		s.userData = ud
	}
	return s, nil
}

// readSeedFile finds name in the seed's root whatever the ISO writer did to
// it: any case, '-' written as '_', a ";1" version suffix.
func readSeedFile(name string) ([]byte, error) {
	entries, err := os.ReadDir(seedMount)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if normalizeSeedName(e.Name()) == name {
			return os.ReadFile(filepath.Join(seedMount, e.Name()))
		}
	}
	return nil, fmt.Errorf("%s: %w", name, os.ErrNotExist)
}

func normalizeSeedName(n string) string {
	if i := strings.IndexByte(n, ';'); i >= 0 {
		n = n[:i]
	}
	n = strings.TrimSuffix(n, ".")
	return strings.ReplaceAll(strings.ToLower(n), "_", "-")
}

// parseMetaData reads NoCloud meta-data, YAML or JSON.
func parseMetaData(b []byte) (metaData, error) {
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return metaData{}, err
	}
	md := metaData{
		InstanceID:    scalarString(m["instance-id"]),
		LocalHostname: scalarString(m["local-hostname"]),
	}
	if md.LocalHostname == "" {
		md.LocalHostname = scalarString(m["hostname"])
	}
	if md.InstanceID == "" {
		md.InstanceID = "none"
	}
	return md, nil
}

// scalarString renders a YAML scalar (string, number, bool) as text.
func scalarString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprintf("%g", x)
	default:
		return fmt.Sprint(x)
	}
}
