// Package dockerfile turns a Dockerfile into typed, validated stages with
// Docker's semantics: global and per-stage ARGs, --build-arg, variable
// expansion with the escape directive, heredocs, FROM scratch|stage|image and
// --target. It runs nothing and touches no files; package build executes the
// stages. Every error names the Dockerfile and line ("Dockerfile:3: …").
package dockerfile
