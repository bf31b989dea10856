package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"
)

// passwordSource is where one password comes from: a file, else an
// environment variable, else a prompt on the terminal without echo.
type passwordSource struct {
	file    string // from a flag; "" for none
	flag    string // the flag's name, for the message when nothing gives one
	env     string // the variable
	prompt  string
	confirm bool   // prompt twice (new passwords)
	what    string // "password", "new password"
}

// readPassword returns the vault password: --password-file, else
// $MESH_PASSWORD, else a prompt. confirm asks twice (new passwords).
func readPassword(g *globals, prompt string, confirm bool) ([]byte, error) {
	return passwordSource{file: g.passwordFile, flag: "--password-file", env: "MESH_PASSWORD", prompt: prompt,
		confirm: confirm, what: "password"}.read()
}

func (s passwordSource) read() ([]byte, error) {
	if s.file != "" {
		b, err := os.ReadFile(s.file)
		if err != nil {
			return nil, fmt.Errorf("reading the %s file: %w", s.what, err)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			return nil, fmt.Errorf("the %s file %s is empty", s.what, s.file)
		}
		return b, nil
	}
	if p := os.Getenv(s.env); p != "" {
		return []byte(p), nil
	}
	pw, err := promptPassword(s.prompt, s.confirm)
	if errors.Is(err, errNoTerminal) {
		return nil, fmt.Errorf("no %s given: use %s, $%s or a terminal", s.what, s.flag, s.env)
	}
	return pw, err
}

var errNoTerminal = errors.New("no terminal")

// passwordAtHand reports whether readPassword has a source other than
// failing: a file, $MESH_PASSWORD, or a terminal to prompt on.
func (g *globals) passwordAtHand() bool {
	if g.passwordFile != "" || os.Getenv("MESH_PASSWORD") != "" {
		return true
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	tty.Close()
	return true
}

func promptPassword(prompt string, confirm bool) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, errNoTerminal
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
