package launcher

import (
	"fmt"
	"os"
	"path/filepath"
)

// DetectAccel says whether QEMU can use KVM on this machine: "kvm" when
// /dev/kvm opens read-write, a hardware virtualization module (kvm_intel or
// kvm_amd) is loaded and /dev/kvm is not the PVM nested hypervisor
// (kvm_pvm), under which guests hang. Otherwise it is "tcg", software
// emulation. why is a sentence for the Acceleration condition.
func DetectAccel() (accel, why string) {
	return detectAccel("/")
}

// detectAccel is DetectAccel with /dev and /sys under root, for tests.
func detectAccel(root string) (string, string) {
	const tcg = "; using software emulation (TCG)"
	dev := filepath.Join(root, "dev/kvm")
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return AccelTCG, fmt.Sprintf("/dev/kvm is not usable (%v)", pathErr(err)) + tcg
	}
	_ = f.Close()
	module := func(name string) bool {
		_, err := os.Stat(filepath.Join(root, "sys/module", name))
		return err == nil
	}
	if module("kvm_pvm") {
		return AccelTCG, "/dev/kvm is a PVM nested hypervisor (kvm_pvm)" + tcg
	}
	for _, m := range []string{"kvm_intel", "kvm_amd"} {
		if module(m) {
			return AccelKVM, "KVM hardware virtualization (" + m + ")"
		}
	}
	return AccelTCG, "/dev/kvm has no hardware virtualization behind it (neither kvm_intel nor kvm_amd is loaded)" + tcg
}

// pathErr drops the path from an *os.PathError: the message names it.
func pathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// ChooseAccel applies a requested accelerator: kvm or tcg is taken as is,
// auto or "" detects.
func ChooseAccel(want string) (accel, why string, err error) {
	switch want {
	case AccelKVM:
		return AccelKVM, "KVM requested by the configuration", nil
	case AccelTCG:
		return AccelTCG, "software emulation (TCG) requested by the configuration", nil
	case AccelAuto, "":
		accel, why = DetectAccel()
		return accel, why, nil
	}
	return "", "", fmt.Errorf("accel %q: want %s, %s or %s", want, AccelAuto, AccelKVM, AccelTCG)
}
