package io.execstream.client;

import java.nio.file.Path;
import java.util.Map;

/**
 * How to reach a server: the target, a bearer token, and TLS from PEM files. {@link
 * #fromEnv()} reads the variables every execstream client reads.
 *
 * @param target host:port ({@link #DEFAULT_TARGET} when empty)
 * @param token bearer token sent as "authorization: Bearer TOKEN" on every call ("" for none)
 * @param tls whether to use TLS (with the system's roots unless {@code caFile} is set)
 * @param caFile PEM CA bundle, or null
 * @param certFile PEM client certificate for mTLS, or null
 * @param keyFile PEM private key of {@code certFile}, or null
 */
public record ConnectOptions(
    String target, String token, boolean tls, Path caFile, Path certFile, Path keyFile) {
  /** The server address when none is given. */
  public static final String DEFAULT_TARGET = "127.0.0.1:50051";

  /** Plaintext to {@code target} with {@code token} ("" for none). */
  public static ConnectOptions of(String target, String token) {
    return new ConnectOptions(target, token, false, null, null, null);
  }

  /**
   * EXECSTREAM_TARGET, EXECSTREAM_TOKEN, EXECSTREAM_CA, EXECSTREAM_CERT and EXECSTREAM_KEY
   * (mTLS), and EXECSTREAM_TLS=1 (TLS with the system's roots).
   */
  public static ConnectOptions fromEnv() {
    return fromEnv(System.getenv());
  }

  static ConnectOptions fromEnv(Map<String, String> env) {
    Path ca = path(env.get("EXECSTREAM_CA"));
    Path cert = path(env.get("EXECSTREAM_CERT"));
    boolean tls = ca != null || cert != null || "1".equals(env.get("EXECSTREAM_TLS"));
    return new ConnectOptions(
        env.getOrDefault("EXECSTREAM_TARGET", ""),
        env.getOrDefault("EXECSTREAM_TOKEN", ""),
        tls,
        ca,
        cert,
        path(env.get("EXECSTREAM_KEY")));
  }

  /** The target to dial. */
  public String targetOrDefault() {
    return target == null || target.isEmpty() ? DEFAULT_TARGET : target;
  }

  private static Path path(String value) {
    return value == null || value.isEmpty() ? null : Path.of(value);
  }
}
