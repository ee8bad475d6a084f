package io.execstream.client;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.ListValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import com.google.protobuf.util.Durations;
import com.google.protobuf.util.JsonFormat;
import io.grpc.Status;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The gRPC service config every execstream client shares: which codes each method retries,
 * with what backoff. The build copies {@code protos/execstream/v1/service_config.json} into
 * the jar; {@link ExecstreamClient} hands it to grpc-java as the default service config, and
 * the watch and the reporter pace their own reconnects by the same policy (gRPC never
 * retries a stream that already delivered messages).
 */
public final class ServiceConfig {
  /** The full name of the service, as the config names it. */
  public static final String SERVICE_NAME = "execstream.v1.ExecutionService";

  private static final String RESOURCE = "service_config.json";
  private static final Struct CONFIG = parse(load());

  private ServiceConfig() {}

  /** One method's retry policy. */
  public record RetryPolicy(
      int maxAttempts,
      Duration initialBackoff,
      Duration maxBackoff,
      double backoffMultiplier,
      Set<Status.Code> retryableCodes) {

    /** Whether the policy retries {@code code}. */
    public boolean retryable(Status.Code code) {
      return retryableCodes.contains(code);
    }

    /**
     * The longest wait before attempt {@code n} (from 0) after a failure: initialBackoff *
     * multiplier^n, at most maxBackoff. Like gRPC, the helpers wait a random time below it.
     */
    public Duration backoff(int n) {
      double bound = initialBackoff.toNanos();
      for (int i = 0; i < n && bound < maxBackoff.toNanos(); i++) {
        bound *= backoffMultiplier;
      }
      return Duration.ofNanos((long) Math.min(bound, maxBackoff.toNanos()));
    }
  }

  /** The config as JSON text, exactly as in the protos. */
  public static String json() {
    return load();
  }

  /** The config as grpc-java's {@code defaultServiceConfig} wants it (numbers as Double). */
  @SuppressWarnings("unchecked")
  public static Map<String, ?> asMap() {
    return (Map<String, ?>) toJava(Value.newBuilder().setStructValue(CONFIG).build());
  }

  /**
   * The retry policy of {@code method} (e.g. "WatchExecution").
   *
   * @throws IllegalArgumentException when the config gives the method none
   */
  public static RetryPolicy retryPolicy(String method) {
    for (Value entry : CONFIG.getFieldsOrThrow("methodConfig").getListValue().getValuesList()) {
      Struct methodConfig = entry.getStructValue();
      for (Value name : methodConfig.getFieldsOrThrow("name").getListValue().getValuesList()) {
        Map<String, Value> fields = name.getStructValue().getFieldsMap();
        String service = fields.getOrDefault("service", Value.getDefaultInstance()).getStringValue();
        String named = fields.getOrDefault("method", Value.getDefaultInstance()).getStringValue();
        if (service.equals(SERVICE_NAME) && (named.isEmpty() || named.equals(method))) {
          if (!methodConfig.containsFields("retryPolicy")) {
            throw new IllegalArgumentException("service config: " + method + " has no retryPolicy");
          }
          return retryPolicy(methodConfig.getFieldsOrThrow("retryPolicy").getStructValue());
        }
      }
    }
    throw new IllegalArgumentException("service config: no methodConfig names " + method);
  }

  private static RetryPolicy retryPolicy(Struct policy) {
    Map<String, Value> fields = policy.getFieldsMap();
    Set<Status.Code> codes = EnumSet.noneOf(Status.Code.class);
    for (Value code : fields.get("retryableStatusCodes").getListValue().getValuesList()) {
      codes.add(Status.Code.valueOf(code.getStringValue()));
    }
    return new RetryPolicy(
        (int) fields.get("maxAttempts").getNumberValue(),
        duration(fields.get("initialBackoff")),
        duration(fields.get("maxBackoff")),
        fields.get("backoffMultiplier").getNumberValue(),
        Set.copyOf(codes));
  }

  private static Duration duration(Value text) {
    try {
      com.google.protobuf.Duration parsed = Durations.parse(text.getStringValue());
      return Duration.ofSeconds(parsed.getSeconds(), parsed.getNanos());
    } catch (java.text.ParseException e) {
      throw new IllegalArgumentException("service config: bad duration " + text.getStringValue(), e);
    }
  }

  private static Object toJava(Value value) {
    return switch (value.getKindCase()) {
      case STRUCT_VALUE -> {
        Map<String, Object> map = new LinkedHashMap<>();
        value.getStructValue().getFieldsMap().forEach((key, item) -> map.put(key, toJava(item)));
        yield map;
      }
      case LIST_VALUE -> {
        ListValue list = value.getListValue();
        List<Object> items = new ArrayList<>(list.getValuesCount());
        list.getValuesList().forEach(item -> items.add(toJava(item)));
        yield items;
      }
      case NUMBER_VALUE -> value.getNumberValue();
      case STRING_VALUE -> value.getStringValue();
      case BOOL_VALUE -> value.getBoolValue();
      default -> null;
    };
  }

  private static String load() {
    try (InputStream in = ServiceConfig.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException(RESOURCE + " is missing from the jar: rebuild it");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static Struct parse(String json) {
    Struct.Builder config = Struct.newBuilder();
    try {
      JsonFormat.parser().merge(json, config);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("service config: " + e.getMessage(), e);
    }
    return config.build();
  }
}
