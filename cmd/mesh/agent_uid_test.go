package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ocmt/mesh/agent"
)

// nobody is the Unix user (and group) the agent runs as in
// agentAsAnotherUser: uid and gid 65534, nobody and nogroup on Debian.
const nobody = 65534

// otherUserNodeArgs readies c's home for an agent running as nobody: the
// home may be passed through (not listed) by others, and the node's flags
// give the agent socket to nobody's group, mode 0660. Needs root.
func otherUserNodeArgs(t *testing.T, c *cli) []string {
	t.Helper()
	if err := os.Chmod(c.home, 0o711); err != nil {
		t.Fatal(err)
	}
	return []string{"--agent-socket-mode", "0660", "--agent-socket-group", "65534"}
}

// agentAsAnotherUser runs an agent as nobody against c's running node
// (started with otherUserNodeArgs): its mesh agent mcp reaches the agent
// socket and works within its paths; the owner's api.sock refuses it, by
// the socket's mode and, were that mode opened, by the node's check of
// the caller's user. Its request stays waiting for the owner.
func agentAsAnotherUser(t *testing.T, c *cli) {
	// nobody runs its own copy of mesh, from a folder it can read, and
	// holds its key in a folder of its own.
	binDir := ownDir(t, "mbin", 0o755, 0)
	bin := filepath.Join(binDir, "mesh")
	copyFile(t, meshBin, bin, 0o755)
	agentDir := ownDir(t, "mag", 0o700, nobody)
	keyFile := filepath.Join(agentDir, "outsider.key")
	if got := lastLine(c.ok("", nil, "agent", "add", "outsider", "--paths", "calendar/**", "--key-file", keyFile)); got != keyFile {
		t.Fatalf("mesh agent add --key-file %s printed %s last", keyFile, got)
	}
	if err := os.Chown(keyFile, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(c.home, "agent.sock")); err != nil || fi.Mode().Perm() != 0o660 || fi.Sys().(*syscall.Stat_t).Gid != nobody {
		t.Fatalf("agent.sock: %v, %v; want mode 0660, group %d", fi, err, nobody)
	}
	cred := &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}
	env := []string{"HOME=" + agentDir, "PATH=" + os.Getenv("PATH")}

	ag := startBridge(t, env, cred, bin, agentDir, keyFile, filepath.Join(c.home, "agent.sock"))
	ag.initialize()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(ag.cmd.Process.Pid) + "/status")
	if err != nil || !strings.Contains(string(status), "\nUid:\t65534\t65534\t65534\t65534\n") {
		t.Fatalf("the agent does not run as nobody: %v\n%s", err, status)
	}
	if res, text, refused := ag.call("read_resource", map[string]any{"path": "calendar/work"}); refused || res["text"] != "Mon 9:00 standup" {
		t.Fatalf("the agent of another user reads its calendar: %v %q", res, text)
	}
	res, text, refused := ag.call("request_share", map[string]any{"path": "calendar/**", "with": "mallory", "can": "read", "for": "1d"})
	id, _ := res["id"].(string)
	if refused || id == "" {
		t.Fatalf("request_share: %v %q", res, text)
	}

	// It tries the owner's socket to approve its own request, or read a
	// secret, as the owner would.
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Dir = append(env, "MESH_HOME="+c.home), agentDir
		cmd.Stdin = strings.NewReader("")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setsid: true} // no terminal to prompt on
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("nobody ran mesh %s on the owner's node: %q", strings.Join(args, " "), out)
		}
		if strings.Contains(string(out), secretCanary) {
			t.Fatalf("mesh %s as nobody printed the secret", strings.Join(args, " "))
		}
		return string(out)
	}
	api := filepath.Join(c.home, "api.sock")
	if out := run("approve", id); !strings.Contains(out, "permission denied: the node's socket") {
		t.Fatalf("mesh approve as nobody, api.sock 0600: %q", out)
	}
	// The owner opens api.sock by mistake: the node still refuses nobody.
	if err := os.Chmod(api, 0o666); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"approve", id}, {"secret", "get", "openai"}, {"agent", "unlock", "outsider"}} {
		if out := run(args...); !strings.Contains(out, "caller is not the node's user") {
			t.Errorf("mesh %s as nobody, api.sock 0666: %q", strings.Join(args, " "), out)
		}
	}
	if err := os.Chmod(api, 0o600); err != nil {
		t.Fatal(err)
	}
	ag.stop()

	if out := c.ok("", nil, "approvals"); !lineWith(out, id+"  pending", "agent outsider") {
		t.Fatalf("the request nobody tried to approve: mesh approvals says %q", out)
	}
	if slices.ContainsFunc(auditOf(t, c), func(a auditLine) bool { return a.Op == agent.OpApprovalApprove && a.Target == id }) {
		t.Fatal("the audit log records an approval nobody made")
	}
}

// ownDir makes a new folder of mode perm, owned by uid (0: root), removed
// when the test ends. Its parent is the system's temporary folder, which
// every user may pass through.
func ownDir(t *testing.T, prefix string, perm os.FileMode, uid int) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, uid); err != nil {
		t.Fatal(err)
	}
	return dir
}

func copyFile(t *testing.T, from, to string, perm os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
