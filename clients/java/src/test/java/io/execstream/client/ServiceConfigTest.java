package io.execstream.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ServiceConfigTest {
  @Test
  void theJarCarriesTheProtosServiceConfig() throws Exception {
    String source = Files.readString(Path.of("../../protos/execstream/v1/service_config.json"));
    assertEquals(source, ServiceConfig.json());
  }

  @Test
  void everyMethodHasARetryPolicyThatRetriesUnavailable() {
    for (String method : List.of("ReportProgress", "WatchExecution", "GetSnapshot")) {
      ServiceConfig.RetryPolicy policy = ServiceConfig.retryPolicy(method);
      assertTrue(policy.retryable(Status.Code.UNAVAILABLE), method);
      assertFalse(policy.retryable(Status.Code.INVALID_ARGUMENT), method);
      assertTrue(policy.initialBackoff().compareTo(Duration.ZERO) > 0, method);
    }
  }

  @Test
  void anUnknownMethodHasNoRetryPolicy() {
    assertThrows(IllegalArgumentException.class, () -> ServiceConfig.retryPolicy("NoSuchMethod"));
  }

  @Test
  void backoffGrowsByTheMultiplierUpToTheMaximum() {
    ServiceConfig.RetryPolicy policy = new ServiceConfig.RetryPolicy(
        5, Duration.ofSeconds(1), Duration.ofSeconds(3), 2.0, Set.of());
    assertEquals(
        List.of(Duration.ofSeconds(1), Duration.ofSeconds(2), Duration.ofSeconds(3), Duration.ofSeconds(3)),
        List.of(policy.backoff(0), policy.backoff(1), policy.backoff(2), policy.backoff(30)));
  }

  @Test
  void grpcGetsNumbersAsDoubles() {
    Object first = ((List<?>) ServiceConfig.asMap().get("methodConfig")).get(0);
    Object retry = ((Map<?, ?>) first).get("retryPolicy");
    assertEquals(5.0, ((Map<?, ?>) retry).get("maxAttempts"));
  }
}
