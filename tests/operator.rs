//! What an operator installs beside the binary (issue 16): shell completions and man pages
//! generated from the clap definitions, and the gateway service in `dist/` (systemd unit,
//! environment file, log rotation).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_dropscope")
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Whether `tool` can be run. Missing on a developer's machine, the test says so and passes;
/// in CI (which runs scripts/setup.sh) a missing tool fails it.
fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is missing: scripts/setup.sh installs it"
        );
        eprintln!("skipped: {tool} is not installed (bash scripts/setup.sh installs it)");
    }
    found
}

const COMMANDS: [&str; 6] = ["analyze", "trace", "report", "live", "completions", "man"];

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dropscope-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn bash_completion_loads_and_completes_commands_and_options() {
    let script = format!(
        "source <({bin} completions bash) && complete -p dropscope && \
         COMP_WORDS=(dropscope an) COMP_CWORD=1 COMP_LINE='dropscope an' COMP_POINT=12 && \
         _dropscope dropscope an dropscope && echo \"${{COMPREPLY[@]}}\" && \
         COMP_WORDS=(dropscope live --re) COMP_CWORD=2 COMP_LINE='dropscope live --re' \
         COMP_POINT=19 && _dropscope dropscope --re live && echo \"${{COMPREPLY[@]}}\"",
        bin = bin()
    );
    let out = stdout(&run(Command::new("bash").args(["-c", &script])));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("complete "), "{out}");
    assert!(lines[0].ends_with(" dropscope"), "{out}");
    assert_eq!(lines[1].trim(), "analyze", "{out}");
    assert!(lines[2].split(' ').any(|w| w == "--read"), "{out}");
}

#[test]
fn every_shell_gets_a_script_naming_every_command() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout(&run(Command::new(bin()).args(["completions", shell])));
        for c in COMMANDS {
            assert!(script.contains(c), "{shell} script lacks {c}");
        }
    }
    let out = run(Command::new(bin()).args(["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_page_lists_every_command_and_renders_without_warnings() {
    let page = stdout(&run(Command::new(bin()).arg("man")));
    assert!(page.starts_with(".ie \\n(.g .ds Aq"), "roff");
    for c in COMMANDS {
        assert!(page.contains(&format!("dropscope\\-{c}(1)")), "lacks {c}");
    }
    let dir = temp_dir("man");
    let man1 = dir.join("man1");
    stdout(&run(Command::new(bin()).args(["man", "--dir"]).arg(&man1)));
    let live = std::fs::read_to_string(man1.join("dropscope-live.1")).unwrap();
    assert!(live.contains("\\-\\-read") && live.contains("\\-\\-follow"));
    if !have("groff") {
        return;
    }
    for c in
        std::iter::once("dropscope".to_string()).chain(COMMANDS.map(|c| format!("dropscope-{c}")))
    {
        let path = man1.join(format!("{c}.1"));
        assert!(path.is_file(), "{c}.1 written");
        let out = run(Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&path));
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{c}: {out:?}"
        );
        if have("man") {
            let out = run(Command::new("man")
                .args(["--warnings", "-l"])
                .arg(&path)
                .env("MANPAGER", "cat")
                .env("LC_ALL", "C.UTF-8")
                .env("MANWIDTH", "80"));
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{c}: {out:?}"
            );
            assert!(String::from_utf8_lossy(&out.stdout).contains("dropscope"));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn unit_text() -> String {
    std::fs::read_to_string(root().join("dist/systemd/dropscope-live@.service")).unwrap()
}

/// `systemd-analyze verify` on the unit, in a root laid out as after the documented install
/// (binary at the unit's path, the distribution's units, the man pages it points to). It
/// runs without systemd as PID 1 (`--root`); any warning fails the test, not only errors.
#[test]
fn systemd_analyze_verifies_the_service() {
    if !have("systemd-analyze") {
        return;
    }
    let root_dir = temp_dir("unit-root");
    let units = Path::new("/usr/lib/systemd/system");
    assert!(units.is_dir(), "systemd's units at {}", units.display());
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        stdout(&run(Command::new("cp").arg("-r").arg(from).arg(to)));
    };
    copy(units, &root_dir.join("usr/lib/systemd/system"));
    copy(
        &root().join("dist/systemd/dropscope-live@.service"),
        &root_dir.join("etc/systemd/system/dropscope-live@.service"),
    );
    copy(Path::new(bin()), &root_dir.join("usr/local/bin/dropscope"));
    let man1 = root_dir.join("man/man1");
    stdout(&run(Command::new(bin()).args(["man", "--dir"]).arg(&man1)));
    let out = run(Command::new("systemd-analyze")
        .args(["verify", "--root"])
        .arg(&root_dir)
        .arg("dropscope-live@eth0.service")
        .env("MANPATH", root_dir.join("man")));
    std::fs::remove_dir_all(&root_dir).ok();
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_service_has_capture_rights_and_no_more() {
    let unit = unit_text();
    for line in [
        "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN",
        "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN",
        "User=dropscope",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "StateDirectory=dropscope/%i",
        "LogsDirectory=dropscope",
        "Restart=on-failure",
    ] {
        assert!(unit.lines().any(|l| l == line), "unit lacks {line}");
    }
    let sysusers = std::fs::read_to_string(root().join("dist/sysusers.d/dropscope.conf")).unwrap();
    assert!(sysusers.lines().any(|l| l.starts_with("u dropscope ")));
}

/// The unit's ExecStart, with the example environment file's options, is a command line
/// `dropscope live` accepts: run on an interface that does not exist, it fails on the
/// interface, not on an option.
#[test]
fn the_services_command_line_and_example_options_parse() {
    let unit = unit_text().replace("\\\n", " ");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let env = std::fs::read_to_string(root().join("dist/live.env")).unwrap();
    let opts = env
        .lines()
        .find_map(|l| l.strip_prefix("DROPSCOPE_LIVE_OPTS="))
        .expect("DROPSCOPE_LIVE_OPTS in dist/live.env");
    let dir = temp_dir("unit-args");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/dropscope"));
    let args: Vec<String> = words
        .flat_map(|w| match w {
            "$DROPSCOPE_LIVE_OPTS" => opts.split_whitespace().map(String::from).collect(),
            w => vec![
                w.replace("%I", "nosuch0")
                    .replace("%i", "nosuch0")
                    .replace("/var/", &format!("{}/", dir.display())),
            ],
        })
        .collect();
    assert!(args.iter().any(|a| a == "--report-every"), "{args:?}");
    let out = run(Command::new(bin()).args(&args));
    std::fs::remove_dir_all(&dir).ok();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot capture on nosuch0"), "{err}");
}

/// The logrotate rules rotate the events file in place (copytruncate), checked by running
/// logrotate on a copy of them whose paths point into a temporary directory.
#[test]
fn logrotate_rotates_the_events_in_place() {
    if !have("logrotate") {
        return;
    }
    let dir = temp_dir("logrotate");
    let logs = dir.join("log");
    std::fs::create_dir_all(&logs).unwrap();
    let events = logs.join("events-eth0.ndjson");
    std::fs::write(&events, "{\"event\":\"connection_closed\"}\n").unwrap();
    let rules = std::fs::read_to_string(root().join("dist/logrotate/dropscope"))
        .unwrap()
        .replace("/var/log/dropscope", logs.to_str().unwrap())
        .replace("su dropscope dropscope", "su root root");
    assert!(rules.contains("copytruncate"));
    let conf = dir.join("dropscope.conf");
    std::fs::write(&conf, rules).unwrap();
    let out = run(Command::new("logrotate")
        .args(["--force", "--state"])
        .arg(dir.join("state"))
        .arg(&conf));
    assert!(out.status.success(), "{out:?}");
    let rotated: Vec<_> = std::fs::read_dir(&logs)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "events-eth0.ndjson")
        .collect();
    assert_eq!(rotated.len(), 1, "one rotated file");
    assert_eq!(
        std::fs::metadata(&events).unwrap().len(),
        0,
        "truncated in place"
    );
    std::fs::remove_dir_all(&dir).ok();
}
