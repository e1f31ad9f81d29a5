// Package build runs the stages of a Dockerfile into an image: the build
// context and .dockerignore, COPY and ADD with Docker's semantics, the
// config instructions, reproducible layers and the step cache. It returns a
// go-containerregistry v1.Image; it does not store it, and it runs no
// commands (RUN comes later, through package runtime).
package build
