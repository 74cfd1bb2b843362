package storage

import (
	"fmt"
	"math"

	"k8s.io/apimachinery/pkg/api/resource"
)

// allocationUnit is the granularity of every volume size. Whole KiB keep a
// Block file a multiple of the 512-byte sector QEMU addresses a raw disk in,
// and give decimal requests the sizes users of the reference platform see:
// 100M is 100,000,000 bytes, rounded up to 97657Ki.
const allocationUnit = 1024

// maxBytes is the largest size that still rounds up without overflow.
const maxBytes = math.MaxInt64 - allocationUnit + 1

// RoundCapacity returns the capacity a volume gets for a storage request:
// the request rounded up to a whole KiB, as a BinarySI quantity (so 100M
// becomes 97657Ki and 10Gi stays 10Gi), and the same size in bytes.
func RoundCapacity(request resource.Quantity) (resource.Quantity, int64, error) {
	if request.Sign() <= 0 {
		return resource.Quantity{}, 0, fmt.Errorf("storage request %s: must be positive", request.String())
	}
	if request.Cmp(*resource.NewQuantity(maxBytes, resource.BinarySI)) > 0 {
		return resource.Quantity{}, 0, fmt.Errorf("storage request %s: too large", request.String())
	}
	// Value rounds a fractional byte count (0.5, 1500m) up, the direction we want.
	n := request.Value()
	b := roundUp(n)
	return *resource.NewQuantity(b, resource.BinarySI), b, nil
}

func roundUp(n int64) int64 {
	return (n + allocationUnit - 1) / allocationUnit * allocationUnit
}
