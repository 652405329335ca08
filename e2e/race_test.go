//go:build race

package e2e

// raceBuild: the tests were built with -race, so buildAgent builds the
// agent with it too and the black-box tests fail on a race it reports.
const raceBuild = true
