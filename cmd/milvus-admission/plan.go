package main

import (
	"fmt"
	"io"
)

// runPlan is being written (issue 13); it replaces this file.
func runPlan(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "milvus-admission plan: not built yet")
	return exitInput
}
