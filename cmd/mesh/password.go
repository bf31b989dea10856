package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"
)

// readPassword returns the password from --password-file, else
// $MESH_PASSWORD, else a prompt on the terminal without echo. confirm asks
// twice (for new passwords).
func readPassword(g *globals, prompt string, confirm bool) ([]byte, error) {
	if g.passwordFile != "" {
		b, err := os.ReadFile(g.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("reading password file: %w", err)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			return nil, errors.New("password file is empty")
		}
		return b, nil
	}
	if p := os.Getenv("MESH_PASSWORD"); p != "" {
		return []byte(p), nil
	}
	return promptPassword(prompt, confirm)
}

func promptPassword(prompt string, confirm bool) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, errors.New("no password given: use --password-file, $MESH_PASSWORD or a terminal")
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	pw, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("reading password: %w", err)
	}
	if len(pw) == 0 {
		return nil, errors.New("empty password")
	}
	if confirm {
		fmt.Fprint(tty, "Repeat: ")
		again, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		if err != nil {
			return nil, fmt.Errorf("reading password: %w", err)
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("passwords do not match")
		}
	}
	return pw, nil
}
