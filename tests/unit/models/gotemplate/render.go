// Renders an Ollama-style chat template with Go's text/template, the engine Ollama uses.
// Input (stdin): {"template": "...", "messages": [{"role": "...", "content": "..."}]}; output: the prompt.
package main

import (
	"encoding/json"
	"os"
	"text/template"
)

type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type Input struct {
	Template string    `json:"template"`
	Messages []Message `json:"messages"`
}

func main() {
	var in Input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	tmpl := template.Must(template.New("prompt").Parse(in.Template))
	if err := tmpl.Execute(os.Stdout, map[string]any{"Messages": in.Messages}); err != nil {
		panic(err)
	}
}
