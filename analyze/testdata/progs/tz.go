package main

import (
	"fmt"
	"time"
)

func main() {
	l, err := time.LoadLocation("Europe/Amsterdam")
	fmt.Println(l, err)
}
