// Command hello prints its stamped build identity: a small program the
// image tests build and pack like podid.
package main

import (
	"fmt"

	"github.com/podid/podid/internal/version"
)

func main() { fmt.Println(version.Get().String()) }
