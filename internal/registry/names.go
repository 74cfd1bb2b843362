package registry

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// maxRepositoryLen is distribution's limit on a repository path
// (reference.NameTotalLengthMax); a longer name is refused on push.
const maxRepositoryLen = 255

// VIRepository is the repository of the VirtualImage namespace/name.
func VIRepository(namespace, name string) string {
	return repository("vi/"+namespace+"/", name)
}

// CVIRepository is the repository of the ClusterVirtualImage name.
func CVIRepository(name string) string {
	return repository("cvi/", name)
}

// VDRepository is the repository of the VirtualDisk namespace/name.
func VDRepository(namespace, name string) string {
	return repository("vd/"+namespace+"/", name)
}

// repository joins prefix and name. Kubernetes allows names (253) and
// namespaces (63) whose join exceeds distribution's 255 characters, so a long
// name is cut and suffixed with a hash of the whole path: the result stays
// unique per object and deterministic, so every controller derives the same
// repository without storing it.
func repository(prefix, name string) string {
	full := prefix + name
	if len(full) <= maxRepositoryLen {
		return full
	}
	h := fnv.New64a()
	h.Write([]byte(full)) // never fails
	suffix := fmt.Sprintf("-%016x", h.Sum64())
	keep := maxRepositoryLen - len(prefix) - len(suffix)
	// A cut right after a separator would leave "x.-<hash>", which
	// distribution's name grammar refuses: separators sit between
	// alphanumerics.
	trimmed := strings.TrimRight(name[:max(keep, 0)], ".-_")
	return prefix + trimmed + suffix
}
