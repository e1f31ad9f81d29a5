package main

import (
	"fmt"
	"net/http"
)

func main() {
	resp, err := http.Get("https://example.com/")
	fmt.Println(resp, err)
}
