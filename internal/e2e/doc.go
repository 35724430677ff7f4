// Package e2e holds ironkit's end-to-end tests: real QEMU virtual machines
// (TCG) provisioned by a real regiond and a real rackd (the cmd binaries)
// inside network namespaces the tests create, driven only through the
// region's public REST API. See README.md for what each test proves, what
// it needs and how long it takes.
//
// The package has no code of its own besides the tests; it does not own
// the daemons, the ephemeral environment (scripts/build-ephemeral.sh) nor
// the deployed test image (scripts/build-deployed-image.sh) it runs.
package e2e
