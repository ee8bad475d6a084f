package io.execstream.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * The execution progress hub.
 * </pre>
 */
@io.grpc.stub.annotations.GrpcGenerated
public final class ExecutionServiceGrpc {

  private ExecutionServiceGrpc() {}

  public static final java.lang.String SERVICE_NAME = "execstream.v1.ExecutionService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<io.execstream.v1.ProgressReport,
      io.execstream.v1.ReportProgressResponse> getReportProgressMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ReportProgress",
      requestType = io.execstream.v1.ProgressReport.class,
      responseType = io.execstream.v1.ReportProgressResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.CLIENT_STREAMING)
  public static io.grpc.MethodDescriptor<io.execstream.v1.ProgressReport,
      io.execstream.v1.ReportProgressResponse> getReportProgressMethod() {
    io.grpc.MethodDescriptor<io.execstream.v1.ProgressReport, io.execstream.v1.ReportProgressResponse> getReportProgressMethod;
    if ((getReportProgressMethod = ExecutionServiceGrpc.getReportProgressMethod) == null) {
      synchronized (ExecutionServiceGrpc.class) {
        if ((getReportProgressMethod = ExecutionServiceGrpc.getReportProgressMethod) == null) {
          ExecutionServiceGrpc.getReportProgressMethod = getReportProgressMethod =
              io.grpc.MethodDescriptor.<io.execstream.v1.ProgressReport, io.execstream.v1.ReportProgressResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.CLIENT_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ReportProgress"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.execstream.v1.ProgressReport.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.execstream.v1.ReportProgressResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutionServiceMethodDescriptorSupplier("ReportProgress"))
              .build();
        }
      }
    }
    return getReportProgressMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.execstream.v1.WatchExecutionRequest,
      io.execstream.v1.WatchExecutionResponse> getWatchExecutionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "WatchExecution",
      requestType = io.execstream.v1.WatchExecutionRequest.class,
      responseType = io.execstream.v1.WatchExecutionResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<io.execstream.v1.WatchExecutionRequest,
      io.execstream.v1.WatchExecutionResponse> getWatchExecutionMethod() {
    io.grpc.MethodDescriptor<io.execstream.v1.WatchExecutionRequest, io.execstream.v1.WatchExecutionResponse> getWatchExecutionMethod;
    if ((getWatchExecutionMethod = ExecutionServiceGrpc.getWatchExecutionMethod) == null) {
      synchronized (ExecutionServiceGrpc.class) {
        if ((getWatchExecutionMethod = ExecutionServiceGrpc.getWatchExecutionMethod) == null) {
          ExecutionServiceGrpc.getWatchExecutionMethod = getWatchExecutionMethod =
              io.grpc.MethodDescriptor.<io.execstream.v1.WatchExecutionRequest, io.execstream.v1.WatchExecutionResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "WatchExecution"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.execstream.v1.WatchExecutionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.execstream.v1.WatchExecutionResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutionServiceMethodDescriptorSupplier("WatchExecution"))
              .build();
        }
      }
    }
    return getWatchExecutionMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.execstream.v1.GetSnapshotRequest,
      io.execstream.v1.Snapshot> getGetSnapshotMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetSnapshot",
      requestType = io.execstream.v1.GetSnapshotRequest.class,
      responseType = io.execstream.v1.Snapshot.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.execstream.v1.GetSnapshotRequest,
      io.execstream.v1.Snapshot> getGetSnapshotMethod() {
    io.grpc.MethodDescriptor<io.execstream.v1.GetSnapshotRequest, io.execstream.v1.Snapshot> getGetSnapshotMethod;
    if ((getGetSnapshotMethod = ExecutionServiceGrpc.getGetSnapshotMethod) == null) {
      synchronized (ExecutionServiceGrpc.class) {
        if ((getGetSnapshotMethod = ExecutionServiceGrpc.getGetSnapshotMethod) == null) {
          ExecutionServiceGrpc.getGetSnapshotMethod = getGetSnapshotMethod =
              io.grpc.MethodDescriptor.<io.execstream.v1.GetSnapshotRequest, io.execstream.v1.Snapshot>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetSnapshot"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.execstream.v1.GetSnapshotRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.execstream.v1.Snapshot.getDefaultInstance()))
              .setSchemaDescriptor(new ExecutionServiceMethodDescriptorSupplier("GetSnapshot"))
              .build();
        }
      }
    }
    return getGetSnapshotMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static ExecutionServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ExecutionServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ExecutionServiceStub>() {
        @java.lang.Override
        public ExecutionServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ExecutionServiceStub(channel, callOptions);
        }
      };
    return ExecutionServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports all types of calls on the service
   */
  public static ExecutionServiceBlockingV2Stub newBlockingV2Stub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ExecutionServiceBlockingV2Stub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ExecutionServiceBlockingV2Stub>() {
        @java.lang.Override
        public ExecutionServiceBlockingV2Stub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ExecutionServiceBlockingV2Stub(channel, callOptions);
        }
      };
    return ExecutionServiceBlockingV2Stub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static ExecutionServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ExecutionServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ExecutionServiceBlockingStub>() {
        @java.lang.Override
        public ExecutionServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ExecutionServiceBlockingStub(channel, callOptions);
        }
      };
    return ExecutionServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static ExecutionServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ExecutionServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ExecutionServiceFutureStub>() {
        @java.lang.Override
        public ExecutionServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ExecutionServiceFutureStub(channel, callOptions);
        }
      };
    return ExecutionServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * The execution progress hub.
   * </pre>
   */
  public interface AsyncService {

    /**
     * <pre>
     * A sidecar streams its progress. Each message carries many events (batching is the
     * norm). The response comes when the client closes the stream, after every accepted
     * event is durably committed.
     * Each ProgressReport is all-or-nothing: if any of its events is refused, none of that
     * message's events is stored and the stream ends with the error; events of earlier
     * messages stay committed. Errors: INVALID_ARGUMENT (a malformed event; details carry
     * google.rpc.BadRequest), FAILED_PRECONDITION (a seq gap: ErrorInfo reason SEQ_GAP with
     * the expected seq; an event after the task finished: TASK_FINISHED), PERMISSION_DENIED
     * (another sidecar's task), RESOURCE_EXHAUSTED (limits), UNAVAILABLE (storage down or
     * the server shutting down: resend from the snapshot's last_seq).
     * </pre>
     */
    default io.grpc.stub.StreamObserver<io.execstream.v1.ProgressReport> reportProgress(
        io.grpc.stub.StreamObserver<io.execstream.v1.ReportProgressResponse> responseObserver) {
      return io.grpc.stub.ServerCalls.asyncUnimplementedStreamingCall(getReportProgressMethod(), responseObserver);
    }

    /**
     * <pre>
     * Watch events as they are committed, optionally replaying from a revision first.
     * Errors: OUT_OF_RANGE when after_revision is older than the retained history (ErrorInfo
     * reason REVISION_COMPACTED with the oldest retained revision: re-list with GetSnapshot),
     * RESOURCE_EXHAUSTED when the client stopped reading (WATCHER_TOO_SLOW with the revision
     * to resume after), UNAVAILABLE when the server shuts down (resume after the last
     * revision received).
     * </pre>
     */
    default void watchExecution(io.execstream.v1.WatchExecutionRequest request,
        io.grpc.stub.StreamObserver<io.execstream.v1.WatchExecutionResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getWatchExecutionMethod(), responseObserver);
    }

    /**
     * <pre>
     * The state of tasks and the totals, exactly the fold of the log up to `revision`.
     * </pre>
     */
    default void getSnapshot(io.execstream.v1.GetSnapshotRequest request,
        io.grpc.stub.StreamObserver<io.execstream.v1.Snapshot> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetSnapshotMethod(), responseObserver);
    }
  }

  /**
   * Base class for the server implementation of the service ExecutionService.
   * <pre>
   * The execution progress hub.
   * </pre>
   */
  public static abstract class ExecutionServiceImplBase
      implements io.grpc.BindableService, AsyncService {

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return ExecutionServiceGrpc.bindService(this);
    }
  }

  /**
   * A stub to allow clients to do asynchronous rpc calls to service ExecutionService.
   * <pre>
   * The execution progress hub.
   * </pre>
   */
  public static final class ExecutionServiceStub
      extends io.grpc.stub.AbstractAsyncStub<ExecutionServiceStub> {
    private ExecutionServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ExecutionServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ExecutionServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * A sidecar streams its progress. Each message carries many events (batching is the
     * norm). The response comes when the client closes the stream, after every accepted
     * event is durably committed.
     * Each ProgressReport is all-or-nothing: if any of its events is refused, none of that
     * message's events is stored and the stream ends with the error; events of earlier
     * messages stay committed. Errors: INVALID_ARGUMENT (a malformed event; details carry
     * google.rpc.BadRequest), FAILED_PRECONDITION (a seq gap: ErrorInfo reason SEQ_GAP with
     * the expected seq; an event after the task finished: TASK_FINISHED), PERMISSION_DENIED
     * (another sidecar's task), RESOURCE_EXHAUSTED (limits), UNAVAILABLE (storage down or
     * the server shutting down: resend from the snapshot's last_seq).
     * </pre>
     */
    public io.grpc.stub.StreamObserver<io.execstream.v1.ProgressReport> reportProgress(
        io.grpc.stub.StreamObserver<io.execstream.v1.ReportProgressResponse> responseObserver) {
      return io.grpc.stub.ClientCalls.asyncClientStreamingCall(
          getChannel().newCall(getReportProgressMethod(), getCallOptions()), responseObserver);
    }

    /**
     * <pre>
     * Watch events as they are committed, optionally replaying from a revision first.
     * Errors: OUT_OF_RANGE when after_revision is older than the retained history (ErrorInfo
     * reason REVISION_COMPACTED with the oldest retained revision: re-list with GetSnapshot),
     * RESOURCE_EXHAUSTED when the client stopped reading (WATCHER_TOO_SLOW with the revision
     * to resume after), UNAVAILABLE when the server shuts down (resume after the last
     * revision received).
     * </pre>
     */
    public void watchExecution(io.execstream.v1.WatchExecutionRequest request,
        io.grpc.stub.StreamObserver<io.execstream.v1.WatchExecutionResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getWatchExecutionMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * The state of tasks and the totals, exactly the fold of the log up to `revision`.
     * </pre>
     */
    public void getSnapshot(io.execstream.v1.GetSnapshotRequest request,
        io.grpc.stub.StreamObserver<io.execstream.v1.Snapshot> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetSnapshotMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * A stub to allow clients to do synchronous rpc calls to service ExecutionService.
   * <pre>
   * The execution progress hub.
   * </pre>
   */
  public static final class ExecutionServiceBlockingV2Stub
      extends io.grpc.stub.AbstractBlockingStub<ExecutionServiceBlockingV2Stub> {
    private ExecutionServiceBlockingV2Stub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ExecutionServiceBlockingV2Stub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ExecutionServiceBlockingV2Stub(channel, callOptions);
    }

    /**
     * <pre>
     * A sidecar streams its progress. Each message carries many events (batching is the
     * norm). The response comes when the client closes the stream, after every accepted
     * event is durably committed.
     * Each ProgressReport is all-or-nothing: if any of its events is refused, none of that
     * message's events is stored and the stream ends with the error; events of earlier
     * messages stay committed. Errors: INVALID_ARGUMENT (a malformed event; details carry
     * google.rpc.BadRequest), FAILED_PRECONDITION (a seq gap: ErrorInfo reason SEQ_GAP with
     * the expected seq; an event after the task finished: TASK_FINISHED), PERMISSION_DENIED
     * (another sidecar's task), RESOURCE_EXHAUSTED (limits), UNAVAILABLE (storage down or
     * the server shutting down: resend from the snapshot's last_seq).
     * </pre>
     */
    @io.grpc.ExperimentalApi("https://github.com/grpc/grpc-java/issues/10918")
    public io.grpc.stub.BlockingClientCall<io.execstream.v1.ProgressReport, io.execstream.v1.ReportProgressResponse>
        reportProgress() {
      return io.grpc.stub.ClientCalls.blockingClientStreamingCall(
          getChannel(), getReportProgressMethod(), getCallOptions());
    }

    /**
     * <pre>
     * Watch events as they are committed, optionally replaying from a revision first.
     * Errors: OUT_OF_RANGE when after_revision is older than the retained history (ErrorInfo
     * reason REVISION_COMPACTED with the oldest retained revision: re-list with GetSnapshot),
     * RESOURCE_EXHAUSTED when the client stopped reading (WATCHER_TOO_SLOW with the revision
     * to resume after), UNAVAILABLE when the server shuts down (resume after the last
     * revision received).
     * </pre>
     */
    @io.grpc.ExperimentalApi("https://github.com/grpc/grpc-java/issues/10918")
    public io.grpc.stub.BlockingClientCall<?, io.execstream.v1.WatchExecutionResponse>
        watchExecution(io.execstream.v1.WatchExecutionRequest request) {
      return io.grpc.stub.ClientCalls.blockingV2ServerStreamingCall(
          getChannel(), getWatchExecutionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * The state of tasks and the totals, exactly the fold of the log up to `revision`.
     * </pre>
     */
    public io.execstream.v1.Snapshot getSnapshot(io.execstream.v1.GetSnapshotRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getGetSnapshotMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do limited synchronous rpc calls to service ExecutionService.
   * <pre>
   * The execution progress hub.
   * </pre>
   */
  public static final class ExecutionServiceBlockingStub
      extends io.grpc.stub.AbstractBlockingStub<ExecutionServiceBlockingStub> {
    private ExecutionServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ExecutionServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ExecutionServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Watch events as they are committed, optionally replaying from a revision first.
     * Errors: OUT_OF_RANGE when after_revision is older than the retained history (ErrorInfo
     * reason REVISION_COMPACTED with the oldest retained revision: re-list with GetSnapshot),
     * RESOURCE_EXHAUSTED when the client stopped reading (WATCHER_TOO_SLOW with the revision
     * to resume after), UNAVAILABLE when the server shuts down (resume after the last
     * revision received).
     * </pre>
     */
    public java.util.Iterator<io.execstream.v1.WatchExecutionResponse> watchExecution(
        io.execstream.v1.WatchExecutionRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getWatchExecutionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * The state of tasks and the totals, exactly the fold of the log up to `revision`.
     * </pre>
     */
    public io.execstream.v1.Snapshot getSnapshot(io.execstream.v1.GetSnapshotRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetSnapshotMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do ListenableFuture-style rpc calls to service ExecutionService.
   * <pre>
   * The execution progress hub.
   * </pre>
   */
  public static final class ExecutionServiceFutureStub
      extends io.grpc.stub.AbstractFutureStub<ExecutionServiceFutureStub> {
    private ExecutionServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ExecutionServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ExecutionServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * The state of tasks and the totals, exactly the fold of the log up to `revision`.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.execstream.v1.Snapshot> getSnapshot(
        io.execstream.v1.GetSnapshotRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetSnapshotMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_WATCH_EXECUTION = 0;
  private static final int METHODID_GET_SNAPSHOT = 1;
  private static final int METHODID_REPORT_PROGRESS = 2;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final AsyncService serviceImpl;
    private final int methodId;

    MethodHandlers(AsyncService serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_WATCH_EXECUTION:
          serviceImpl.watchExecution((io.execstream.v1.WatchExecutionRequest) request,
              (io.grpc.stub.StreamObserver<io.execstream.v1.WatchExecutionResponse>) responseObserver);
          break;
        case METHODID_GET_SNAPSHOT:
          serviceImpl.getSnapshot((io.execstream.v1.GetSnapshotRequest) request,
              (io.grpc.stub.StreamObserver<io.execstream.v1.Snapshot>) responseObserver);
          break;
        default:
          throw new AssertionError();
      }
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public io.grpc.stub.StreamObserver<Req> invoke(
        io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_REPORT_PROGRESS:
          return (io.grpc.stub.StreamObserver<Req>) serviceImpl.reportProgress(
              (io.grpc.stub.StreamObserver<io.execstream.v1.ReportProgressResponse>) responseObserver);
        default:
          throw new AssertionError();
      }
    }
  }

  public static final io.grpc.ServerServiceDefinition bindService(AsyncService service) {
    return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
        .addMethod(
          getReportProgressMethod(),
          io.grpc.stub.ServerCalls.asyncClientStreamingCall(
            new MethodHandlers<
              io.execstream.v1.ProgressReport,
              io.execstream.v1.ReportProgressResponse>(
                service, METHODID_REPORT_PROGRESS)))
        .addMethod(
          getWatchExecutionMethod(),
          io.grpc.stub.ServerCalls.asyncServerStreamingCall(
            new MethodHandlers<
              io.execstream.v1.WatchExecutionRequest,
              io.execstream.v1.WatchExecutionResponse>(
                service, METHODID_WATCH_EXECUTION)))
        .addMethod(
          getGetSnapshotMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.execstream.v1.GetSnapshotRequest,
              io.execstream.v1.Snapshot>(
                service, METHODID_GET_SNAPSHOT)))
        .build();
  }

  private static abstract class ExecutionServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    ExecutionServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return io.execstream.v1.ServiceProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("ExecutionService");
    }
  }

  private static final class ExecutionServiceFileDescriptorSupplier
      extends ExecutionServiceBaseDescriptorSupplier {
    ExecutionServiceFileDescriptorSupplier() {}
  }

  private static final class ExecutionServiceMethodDescriptorSupplier
      extends ExecutionServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final java.lang.String methodName;

    ExecutionServiceMethodDescriptorSupplier(java.lang.String methodName) {
      this.methodName = methodName;
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.MethodDescriptor getMethodDescriptor() {
      return getServiceDescriptor().findMethodByName(methodName);
    }
  }

  private static volatile io.grpc.ServiceDescriptor serviceDescriptor;

  public static io.grpc.ServiceDescriptor getServiceDescriptor() {
    io.grpc.ServiceDescriptor result = serviceDescriptor;
    if (result == null) {
      synchronized (ExecutionServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new ExecutionServiceFileDescriptorSupplier())
              .addMethod(getReportProgressMethod())
              .addMethod(getWatchExecutionMethod())
              .addMethod(getGetSnapshotMethod())
              .build();
        }
      }
    }
    return result;
  }
}
