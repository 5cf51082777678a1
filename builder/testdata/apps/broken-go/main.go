// Command broken does not compile: the builder's tests expect the compile
// error in the build's error.
package main

import "fmt"

func main() {
	fmt.Println(undefinedGreeting)
}
