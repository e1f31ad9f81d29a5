// Package runtime runs OCI runtime bundles on Linux: it turns a config.json
// into a container instance (namespaces, rootfs and the standard mounts,
// pivot_root, devices, capabilities, seccomp, cgroups, rlimits) with the
// process as PID 1, and implements the OCI lifecycle (create, start, state,
// kill, delete) plus exec. It knows nothing of images, Dockerfiles or stores;
// tabula run, build's RUN and the runc-compatible verbs all sit on top of it.
package runtime
