// Package version holds the release version of the binaries, stamped at
// build time:
//
//	go build -ldflags "-X github.com/milvus-admission/milvus-admission/internal/version.Version=v0.3.0"
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release (a semver tag such as v0.3.0), set by the linker;
// "dev" in an unstamped build.
var Version = "dev"

// String is what --version prints: the release, the commit the build came
// from when Go recorded one, and the Go version and platform.
func String() string {
	revision := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	return fmt.Sprintf("milvus-admission %s (commit %s, %s %s/%s)", Version, revision, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
