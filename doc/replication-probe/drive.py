#!/usr/bin/env python3
"""Scratch driver for probe.cc: 3 sites on loopback, failover timing."""
import os, queue, signal, subprocess, sys, threading, time, shutil, statistics

BASE = int(os.environ.get("BASE", "47100"))
ROOT = os.environ.get("ROOT", "/tmp/repl-probe-run")
TIMEOUTS = os.environ.get("TIMEOUTS", "--elect 1000 --elect-retry 500 --hb-send 100 --hb-mon 500 --conn-retry 300 --ack-timeout 1000").split()
EXTRA = os.environ.get("EXTRA", "").split()
PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe")


def now_ms():
    return time.time() * 1000


class Site:
    def __init__(self, i, creator=False):
        self.i, self.port = i, BASE + i
        self.home = f"{ROOT}/s{i}"
        self.lines = []  # (recv_ms, line)
        self.cv = threading.Condition()
        self.creator = creator
        self.start()

    def start(self):
        peers = ",".join(str(BASE + j) for j in range(3) if j != self.i)
        args = [PROBE, "--home", self.home, "--port", str(self.port), "--peers", peers] + TIMEOUTS + EXTRA
        if self.creator:
            args.append("--creator")
        self.err = open(f"{ROOT}/s{self.i}.err", "a")
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True, bufsize=1)
        self.lines = []
        threading.Thread(target=self._reader, args=(self.p,), daemon=True).start()

    def _reader(self, p):
        for line in p.stdout:
            with self.cv:
                self.lines.append((now_ms(), line.strip()))
                self.cv.notify_all()
            if os.environ.get("VERBOSE"):
                print(f"  [s{self.i}] {line.strip()}", flush=True)

    def send(self, s):
        self.p.stdin.write(s + "\n")
        self.p.stdin.flush()

    def wait_for(self, prefix, after=0, timeout=30):
        """First line starting with prefix at index >= after."""
        end = time.time() + timeout
        with self.cv:
            while True:
                for idx in range(after, len(self.lines)):
                    if self.lines[idx][1].startswith(prefix):
                        return idx, self.lines[idx][1]
                left = end - time.time()
                if left <= 0:
                    return None, None
                self.cv.wait(left)

    def cmd(self, s, reply, timeout=60):
        n = len(self.lines)
        self.send(s)
        return self.wait_for(reply, n, timeout)[1]

    def kill(self, sig=signal.SIGKILL):
        self.p.send_signal(sig)
        if sig == signal.SIGKILL:
            self.p.wait()

    def is_master(self):
        r = self.cmd("stat", "STAT")
        return r and f"master=" in r and "status=2" in r


def field(line, name):
    for tok in line.split():
        if tok.startswith(name + "="):
            return tok.split("=", 1)[1]


def find_master(sites, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        for s in sites:
            if s.p.poll() is None:
                r = s.cmd("stat", "STAT", 5)
                if r and "status=2" in r:  # DB_REP_MASTER == 1
                    return s
        time.sleep(0.05)
    return None


def main():
    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(ROOT)
    mode = sys.argv[1] if len(sys.argv) > 1 else "all"
    t0 = now_ms()
    a = Site(0, creator=True)
    idx, l = a.wait_for("EV MASTER")
    print("A master after", round(now_ms() - t0), "ms:", l)
    a.wait_for("FIRSTWRITE")
    b = Site(1)
    idx, l = b.wait_for("EV STARTUPDONE", timeout=30)
    print(f"s1 startupdone", round(now_ms() - t0), "ms")
    c = Site(2)
    idx, l = c.wait_for("EV STARTUPDONE", timeout=30)
    print(f"s2 startupdone", round(now_ms() - t0), "ms")
    sites = [a, b, c]
    for s in sites:
        print(s.cmd("stat", "STAT"))
    if mode == "costs":
        a.cmd("write 5000", "WROTE"); time.sleep(0.5)
        for x in sites:
            print(f"s{x.i}", x.cmd("costs", "COSTS"))
    if mode == "fence":
        b.kill(signal.SIGSTOP); c.kill(signal.SIGSTOP)
        time.sleep(3)
        n = len(a.lines); a.send("stat"); time.sleep(0.5)
        print("master's view 3 s after both replicas stopped:", [x for _, x in a.lines[n:]])
        print("  a commit:", a.cmd("write 1", "WROTE"))
        print("  a second commit:", a.cmd("write 1", "WROTE"))
        b.kill(signal.SIGCONT); c.kill(signal.SIGCONT)
        time.sleep(2)
        print("  roles after resume:", [x.cmd("stat", "STAT").split()[1] for x in sites])
    if mode == "restart":
        print(a.cmd("write 500", "WROTE"))
        for x in sites:
            x.send("quit")
        for x in sites:
            x.p.wait(10)
        T0 = now_ms()
        a.creator = False
        a.start(); b.start()   # two of three
        m = find_master([a, b], timeout=30)
        print("2 of 3 restarted: master", m and f"s{m.i}", "after", round(now_ms() - T0), "ms")
        if m:
            print("  ", m.cmd("count", "COUNT"), m.cmd("write 10", "WROTE"))
        c.start()
        i, l = c.wait_for("EV STARTUPDONE", timeout=20)
        print("  third rejoined:", l is not None, c.cmd("count", "COUNT"))
    if mode == "qq":
        import subprocess as sp
        st = sp.Popen(["strace", "-f", "-c", "-e", "trace=fsync,fdatasync,pwrite64,write", "-p", str(b.p.pid)], stderr=open(f"{ROOT}/strace_b.txt", "w"))
        time.sleep(1)
        for pol in os.environ.get("POLS", "quorum quorum quorum").split():
            for x in sites:
                x.cmd(f"ack {pol}", "ACKSET")
            print(pol, a.cmd("write 1000", "WROTE"), flush=True)
        st.send_signal(signal.SIGINT); st.wait()
        print(open(f"{ROOT}/strace_b.txt").read()[-900:])
    if mode == "mthread":
        print("4 threads, all up:", a.cmd("mwrite 4 500", "MWROTE", 120))
        c.kill(signal.SIGSTOP)
        print("4 threads, one replica stopped:", a.cmd("mwrite 4 300", "MWROTE", 120))
        b.kill(signal.SIGSTOP)
        time.sleep(1)
        print("4 threads, both replicas stopped:", a.cmd("mwrite 4 5", "MWROTE", 120))
        b.kill(signal.SIGCONT); c.kill(signal.SIGCONT)
        time.sleep(3)
        print("4 threads, both resumed:", a.cmd("mwrite 4 300", "MWROTE", 120))
        print("roles:", [x.cmd("stat", "STAT") for x in sites])
    if mode == "client":
        print("s1 forcewrite:", b.cmd("forcewrite", "FORCEWRITE"))
        print("s1 ckpt:", b.cmd("ckpt", "CKPT"))
    if mode == "slow":
        for it in range(int(os.environ.get("IT", "8"))):
            print(round(now_ms()-t0), a.cmd("write 100", "WROTE"), flush=True)
            if os.environ.get("SLEEP"): time.sleep(float(os.environ["SLEEP"]))
    if mode in ("all", "bench"):
        n = int(os.environ.get("N", "2000"))
        for pol in ("quorum", "none", "all", "quorum"):
            for s in sites:
                s.cmd(f"ack {pol}", "ACKSET")
            print(f"ack={pol}:", a.cmd(f"write {n}", "WROTE"))
        time.sleep(0.5)
        for s in sites:
            print(f"s{s.i}", s.cmd("count", "COUNT"))
    if mode in ("all", "kill"):
        loops = int(os.environ.get("LOOPS", "5"))
        takes = []
        for s in sites:
            s.send("loop 1")
        for it in range(loops):
            time.sleep(1.0)
            m = find_master(sites)
            if os.environ.get("KEEPHANDLES"):
                for s in sites:
                    if s is not m:
                        s.cmd("count", "COUNT")
            acks = [l for _, l in m.lines if l.startswith("ACK ") and "pf=0" in l]
            T0 = now_ms()
            m.kill()
            # last ack the killed master printed before death
            acks = [l for _, l in m.lines if l.startswith("ACK ") and "pf=0" in l]
            pfs = [l for _, l in m.lines if l.startswith("ACK ") and "pf=1" in l]
            last_ack = int(acks[-1].split()[1]) if acks else -1
            others = [s for s in sites if s is not m]
            marks = {s.i: len(s.lines) for s in others}
            got = None
            end = time.time() + 20
            while time.time() < end and not got:
                for s in others:
                    with s.cv:
                        for j in range(marks[s.i], len(s.lines)):
                            if s.lines[j][1].startswith("FIRSTWRITE"):
                                got = (s, s.lines[j])
                                break
                    if got:
                        break
                time.sleep(0.005)
            if not got:
                print(f"iter {it}: NO NEW MASTER in 20s")
                for s in others:
                    print(s.lines[marks[s.i]:][-15:])
                break
            nm, (rt, line) = got
            took = float(field(line, "t")) - T0
            takes.append(took)
            print(f"iter {it}: killed s{m.i} (last acked key {last_ack}, pf commits {len(pfs)}); new master s{nm.i} wrote after {took:.0f} ms: {line}")
            evs = [l for _, l in nm.lines[marks[nm.i]:] if l.startswith("EV")]
            print("   new master events:", [e.split()[1] + "@" + str(round(float(field(e, 't')) - T0)) for e in evs][:12])
            cnt = nm.cmd("count", "COUNT")
            lastkey = int(field(cnt, "last")[1:])
            print("   new master", cnt, "LOST ACKED" if lastkey < last_ack else "ok")
            # restart the killed one
            T1 = now_ms()
            m.creator = False
            m.start()
            i2, l2 = m.wait_for("EV STARTUPDONE", timeout=30)
            evs = [l for _, l in m.lines if l.startswith("EV") or l.startswith("OPENED") or l.startswith("STARTED")]
            print(f"   s{m.i} restarted, startupdone after {round(now_ms()-T1)} ms; events:", [e.split()[0] + ":" + e.split()[1] for e in evs][:14])
            m.send("loop 1")
        if takes:
            print("failover ms: median %.0f max %.0f all %s" % (statistics.median(takes), max(takes), [round(x) for x in takes]))
        for s in sites:
            s.send("loop 0")
        time.sleep(1)
        for s in sites:
            print(f"s{s.i}", s.cmd("count", "COUNT"), s.cmd("stat", "STAT"))
    if mode in ("all", "stop"):
        m = find_master(sites)
        for s in sites:
            s.send("loop 1")
        time.sleep(0.5)
        T0 = now_ms()
        m.kill(signal.SIGSTOP)
        others = [s for s in sites if s is not m]
        marks = {s.i: len(s.lines) for s in others}
        got = None
        end = time.time() + 30
        while time.time() < end and not got:
            for s in others:
                idx, l = s.wait_for("FIRSTWRITE", marks[s.i], timeout=0.01)
                if l:
                    got = (s, l)
                    break
        print("SIGSTOP: new master", got and f"s{got[0].i}", got and round(float(field(got[1], 't')) - T0), "ms")
        time.sleep(2)
        mark = len(m.lines)
        m.kill(signal.SIGCONT)
        time.sleep(4)
        print("  stopped site after SIGCONT:", [l for _, l in m.lines[mark:] if not l.startswith("ACK")][:20])
        acks_after = [l for _, l in m.lines[mark:] if l.startswith("ACK")]
        print("  stopped site acks after resume:", acks_after[:5], len(acks_after))
        for s in sites:
            s.send("loop 0")
        time.sleep(1)
        for l in acks_after[:5]:
            k = int(l.split()[1])
            for s in sites:
                print("   ", l, f"s{s.i}:", s.cmd(f"get {k}", "GOT"), "(old master port", m.port, ")")
        print("  old master lines mentioning dead:", [l for _, l in m.lines if "DEAD" in l or "COUNT err" in l][:5])
        for s in sites:
            print(f"s{s.i}", s.cmd("count", "COUNT"), s.cmd("stat", "STAT"))
    if mode in ("all", "join"):
        m = find_master(sites)
        n = int(os.environ.get("JOINN", "20000"))
        print("populate:", m.cmd(f"write {n}", "WROTE", 300))
        for s in sites:
            print(f"s{s.i}", s.cmd("ckpt", "CKPT"))
        T0 = now_ms()
        d = Site(3)
        i, l = d.wait_for("EV STARTUPDONE", timeout=120)
        print("fresh site startupdone after", round(now_ms() - T0), "ms")
        print("  events:", [x for _, x in d.lines if x.startswith("EV") or x.startswith("START")][:12])
        print("  s3", d.cmd("count", "COUNT"), "master", m.cmd("count", "COUNT"))
        print("  master site list:"); m.send("stat"); time.sleep(0.3)
        print("  ", [x for _, x in m.lines[-6:]])
        for hs in (m, d):
            r = subprocess.run([PROBE, "--join", hs.home], capture_output=True, text=True, timeout=30)
            print(f"  hot-backup-style join of s{hs.i}:", r.stdout.replace(chr(10), " | "), r.stderr[-300:])
        print("  after joins, master write:", m.cmd("write 100", "WROTE"), "s3", d.cmd("count", "COUNT"))
        print("remove s3 from master:", m.cmd(f"remove {d.port}", "REMOVED"))
        time.sleep(1.5)
        print("  s3 events after remove:", [x for _, x in d.lines if x.startswith("EV")][-5:])
        m.send("stat"); time.sleep(0.3)
        print("  ", [x for _, x in m.lines[-5:]])
        d.send("quit")
    for s in sites:
        if s.p.poll() is None:
            s.send("quit")
    for s in sites:
        try:
            s.p.wait(10)
        except Exception:
            s.kill()


if __name__ == "__main__":
    main()
