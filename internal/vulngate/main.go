// Command vulngate reads `govulncheck -format json` on stdin and decides
// CI's verdict: a vulnerable function of a module we require that our
// code calls fails the build (exit 1); standard-library findings are
// printed as warnings, because only a newer Go toolchain fixes them.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

type message struct {
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
		} `json:"trace"`
	} `json:"finding"`
}

func main() {
	dec := json.NewDecoder(os.Stdin)
	called := map[string]string{} // "module osv" → fix
	var findings int
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "vulngate: cannot read govulncheck's output:", err)
			os.Exit(2)
		}
		f := m.Finding
		if f == nil || len(f.Trace) == 0 {
			continue
		}
		findings++
		if f.Trace[0].Function == "" {
			continue // imported or required, but not called
		}
		called[f.Trace[0].Module+" "+f.OSV+" (fixed in "+f.FixedVersion+")"] = f.Trace[0].Module
	}
	keys := make([]string, 0, len(called))
	for k := range called {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	failed := false
	for _, k := range keys {
		if called[k] == "stdlib" {
			fmt.Println("warning: reachable standard-library vulnerability, upgrade the Go toolchain:", k)
			continue
		}
		fmt.Println("FAIL: reachable vulnerability in a dependency:", k)
		failed = true
	}
	fmt.Printf("vulngate: %d findings, %d reachable\n", findings, len(keys))
	if failed {
		os.Exit(1)
	}
}
