"""Lays out what LocalStack would otherwise download, in the FILESYSTEM_ROOT of `make stack-check`:
DynamoDB Local (the project's, from tools/setup.sh), its java agent, and Java.

    python3 tools/stack_check_prepare.py <var-libs dir> <DynamoDB Local dir> <JAVA_HOME>

LocalStack looks for DynamoDB Local in <var-libs>/dynamodb-local/2/ (DynamoDBLocal.jar marks it
installed) and for Java 21 in <var-libs>/java/21/ (bin/java marks it). DynamoDB Local 3 runs on
Java 17, Debian 12's default, so the Java link points at that.

LocalStack runs `java -jar <that dir>/DynamoDBLocal.jar -port P ...`, and DynamoDB Local alone
listens on every interface. So the DynamoDBLocal.jar placed there is a jar of two manifest lines
whose main class is the project's loopback launcher (tools/DynamoDbLocalLoopback.java, which
tools/setup.sh compiles into <DynamoDB Local dir>/classes) and whose class path is the real jar,
its libraries and that class: the same server, on 127.0.0.1.
"""

import struct
import sys
import zipfile
from pathlib import Path

AGENT = "ddb-local-loader-0.1.jar"
AGENT_CLASS = "QaplaNoopAgent"


def noop_agent_class() -> bytes:
    """A class file whose only method is `public static void premain(String)` returning at once.

    LocalStack starts DynamoDB Local with `-javaagent:ddb-local-loader-0.1.jar`, an agent of its
    own that only lifts DynamoDB Local's limit of 20 indexes (the template has 3), downloaded
    from the internet. The JVM refuses to start without a loadable agent, so this one is
    written here byte by byte: nothing to download, nothing to compile (a JRE has no javac).
    """
    utf8 = lambda s: b"\x01" + struct.pack(">H", len(s)) + s.encode()  # noqa: E731
    pool = [
        utf8(AGENT_CLASS),  # 1
        b"\x07" + struct.pack(">H", 1),  # 2: class AGENT_CLASS
        utf8("java/lang/Object"),  # 3
        b"\x07" + struct.pack(">H", 3),  # 4: class Object
        utf8("premain"),  # 5
        utf8("(Ljava/lang/String;)V"),  # 6
        utf8("Code"),  # 7
    ]
    code = struct.pack(">HHI", 0, 1, 1) + b"\xb1" + struct.pack(">HH", 0, 0)  # `return`
    method = struct.pack(">HHHH", 0x0009, 5, 6, 1) + struct.pack(">HI", 7, len(code)) + code
    return (
        struct.pack(">IHH", 0xCAFEBABE, 0, 52)  # Java 8 class file: no stack map needed
        + struct.pack(">H", len(pool) + 1)
        + b"".join(pool)
        + struct.pack(">HHHHH", 0x0021, 2, 4, 0, 0)  # public class, no interfaces or fields
        + struct.pack(">H", 1)
        + method
        + struct.pack(">H", 0)
    )


def write_agent(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as jar:
        jar.writestr(
            "META-INF/MANIFEST.MF", f"Manifest-Version: 1.0\r\nPremain-Class: {AGENT_CLASS}\r\n\r\n"
        )
        jar.writestr(f"{AGENT_CLASS}.class", noop_agent_class())


LAUNCHER = "DynamoDbLocalLoopback"


def manifest(fields: dict[str, str]) -> str:
    """A jar manifest: lines of at most 72 bytes, continued on lines starting with a space."""
    out = []
    for key, value in fields.items():
        line = f"{key}: {value}".encode()
        out.append(line[:72])
        out += [b" " + line[i : i + 71] for i in range(72, len(line), 71)]
    return (b"\r\n".join(out) + b"\r\n\r\n").decode()


def write_launcher_jar(path: Path, libraries: list[str]) -> None:
    # Class-Path entries are URLs relative to this jar's directory; `real` links to the
    # project's DynamoDB Local.
    class_path = ["real/DynamoDBLocal.jar"] + [f"real/DynamoDBLocal_lib/{n}" for n in libraries]
    with zipfile.ZipFile(path, "w") as jar:
        jar.writestr(
            "META-INF/MANIFEST.MF",
            manifest(
                {
                    "Manifest-Version": "1.0",
                    "Main-Class": LAUNCHER,
                    "Class-Path": " ".join(class_path + ["real/classes/"]),
                }
            ),
        )


def link(path: Path, target: Path) -> None:
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(target)


def main(var_libs: Path, ddb_local: Path, java_home: Path) -> None:
    for need in (
        ddb_local / "DynamoDBLocal.jar",
        ddb_local / "DynamoDBLocal_lib",
        ddb_local / "classes" / f"{LAUNCHER}.class",
        java_home / "bin" / "java",
    ):
        if not need.exists():
            sys.exit(f"stack-check: {need} is missing (tools/setup.sh installs it)")
    ddb = var_libs / "dynamodb-local" / "2"
    ddb.mkdir(parents=True, exist_ok=True)
    # Linked, not copied: LocalStack only reads them (its installer, which edits the jar, is
    # skipped because a DynamoDBLocal.jar is there).
    link(ddb / "real", ddb_local.resolve())
    link(ddb / "DynamoDBLocal_lib", ddb_local.resolve() / "DynamoDBLocal_lib")  # its library path
    libraries = sorted(p.name for p in (ddb_local / "DynamoDBLocal_lib").glob("*.jar"))
    for jar in (ddb / "DynamoDBLocal.jar", ddb / AGENT):  # a link of an earlier layout, say
        if jar.is_symlink() or jar.exists():
            jar.unlink()
    write_launcher_jar(ddb / "DynamoDBLocal.jar", libraries)
    write_agent(ddb / AGENT)
    (var_libs / "java").mkdir(parents=True, exist_ok=True)
    link(var_libs / "java" / "21", java_home.resolve())


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*(Path(a) for a in sys.argv[1:]))
