// Command nodeprobe is a pod of the real-node tests: it GETs each URL given
// as an argument from inside the pod's network namespace and prints one line
// per URL, "URL STATUS BODY" or "URL error: ERR". It has no shell to need.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	client := &http.Client{Timeout: 5 * time.Second}
	for _, url := range os.Args[1:] {
		resp, err := client.Get(url)
		if err != nil {
			fmt.Printf("%s error: %v\n", url, err)
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		fmt.Printf("%s %d %s\n", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
}
