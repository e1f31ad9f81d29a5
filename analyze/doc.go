// Package analyze reads executables and images for the failures a FROM
// scratch image hides until it runs: ELF linking, loader and libraries, Go
// build info and the standard features a binary links in (TLS roots, time
// zones, os/user, cgo DNS), and checks them against an image's files and
// config. It reports findings with fixes; it writes no images.
package analyze
