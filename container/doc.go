// Package container owns tabula's container records: the snapshots of image
// layers a container's root filesystem is made of, the OCI spec made from an
// image config and the run flags, state.json and logs under
// <root>/containers/<id>, and the monitor of detached containers. It does not
// create namespaces or mounts itself: that is package runtime's work.
package container
