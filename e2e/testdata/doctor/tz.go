// tz prints the Unix epoch in Amsterdam's time zone.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(time.Unix(0, 0).In(loc).Format("2006-01-02 15:04 MST"))
}
