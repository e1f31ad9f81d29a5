package main

import (
	"fmt"
	"os/user"
)

func main() {
	u, err := user.Lookup("nonroot")
	fmt.Println(u, err)
}
