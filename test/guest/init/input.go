package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"time"
)

// Linux input events (struct input_event on 64-bit: a timeval, then type,
// code and value).
const (
	inputEventSize = 24
	evKey          = 1
	keyPower       = 116
)

// watchPowerButton reads every /dev/input/event* node (new ones too, as
// drivers load) and calls onPress when KEY_POWER goes down. The ACPI power
// button (QEMU's system_powerdown) is such a device once the button and
// evdev modules are in.
func watchPowerButton(onPress func()) {
	seen := map[string]bool{}
	for {
		nodes, _ := filepath.Glob("/dev/input/event*")
		for _, n := range nodes {
			if !seen[n] {
				seen[n] = true
				go readInputEvents(n, onPress)
			}
		}
		time.Sleep(2 * time.Second)
	}
}

func readInputEvents(path string, onPress func()) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	buf := make([]byte, inputEventSize*16)
	for {
		n, err := f.Read(buf)
		if err != nil {
			return
		}
		for off := 0; off+inputEventSize <= n; off += inputEventSize {
			if isPowerKeyDown(buf[off : off+inputEventSize]) {
				onPress()
			}
		}
	}
}

func isPowerKeyDown(ev []byte) bool {
	typ := binary.LittleEndian.Uint16(ev[16:18])
	code := binary.LittleEndian.Uint16(ev[18:20])
	value := int32(binary.LittleEndian.Uint32(ev[20:24]))
	return typ == evKey && code == keyPower && value == 1
}
