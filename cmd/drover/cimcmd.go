package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/droverha/drover/cim"
)

func newCIMCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cim",
		Short: "Tools for the CIM/REST management face",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newCIMPasswdCmd())
	return cmd
}

func newCIMPasswdCmd() *cobra.Command {
	var token bool
	var user, role string
	cmd := &cobra.Command{
		Use:   "passwd",
		Short: "Make a line of the CIM users file: a password hash, or a new API token",
		Long: `Make a credential for cim.users_file (docs/security.md).

Without --token it reads a password from standard input (asking twice,
without echo, on a terminal; else the first line) and prints its bcrypt
hash (cost 12). With --token it makes a random API token, prints it once,
for the client to send as "Authorization: Bearer TOKEN", and the SHA-256
the users file keeps instead of it.

With --user the whole line is printed, NAME:ROLE:CREDENTIAL, for appending
to the users file:

  drover cim passwd --user alice --role admin >> /etc/drover/cim-users
  drover cim passwd --token --user prometheus

Then have the agent read the file again (SIGHUP, or a restart).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := cim.ParseRole(role); err != nil {
				return exitf(2, "cim passwd: --role: %v", err)
			}
			role = strings.ToLower(role)
			if strings.Contains(user, ":") {
				return exitf(2, "cim passwd: --user: %q holds a colon, which separates the fields of the users file", user)
			}
			out := cmd.OutOrStdout()
			var cred string
			if token {
				tok, c, err := cim.NewToken()
				if err != nil {
					return exitf(1, "cim passwd: %v", err)
				}
				cred = c
				fmt.Fprintf(cmd.ErrOrStderr(), "The token, shown only now (the users file keeps its SHA-256):\n")
				fmt.Fprintln(out, tok)
				fmt.Fprintf(cmd.ErrOrStderr(), "The users file's line:\n")
			} else {
				pw, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr())
				if err != nil {
					return exitf(1, "cim passwd: %v", err)
				}
				cred, err = cim.HashPassword(pw)
				if err != nil {
					return exitf(1, "cim passwd: %v", err)
				}
			}
			line := cred
			if user != "" {
				line = user + ":" + role + ":" + cred
				if _, err := cim.ParseUsers(strings.NewReader(line), "--user"); err != nil {
					return exitf(2, "cim passwd: %v", strings.TrimPrefix(err.Error(), "--user:1: "))
				}
			} else if token {
				line = "NAME:" + role + ":" + cred
			}
			_, err := fmt.Fprintln(out, line)
			return err
		},
	}
	cmd.Flags().BoolVar(&token, "token", false, "make a random API token instead of hashing a password")
	cmd.Flags().StringVar(&user, "user", "", "print the whole line for this user `name`")
	cmd.Flags().StringVar(&role, "role", "viewer", "the user's `role`: viewer, operator or admin")
	return cmd
}

// readPassword reads a password: from a terminal without echo, twice; from
// anything else, the first line.
func readPassword(in io.Reader, prompt io.Writer) ([]byte, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return nil, err
		}
		fmt.Fprint(prompt, "Again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("the passwords differ")
		}
		return checkPassword(pw)
	}
	line, err := bufio.NewReader(in).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return checkPassword(bytes.TrimRight(line, "\r\n"))
}

func checkPassword(pw []byte) ([]byte, error) {
	switch {
	case len(pw) == 0:
		return nil, errors.New("empty password")
	case len(pw) > 72:
		return nil, errors.New("the password is longer than 72 bytes, which bcrypt cannot hash")
	}
	return pw, nil
}
