package dev.aforo.flink;

import java.io.DataInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import org.apache.flink.api.common.typeutils.base.LongSerializer;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.memory.DataInputViewStreamWrapper;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.state.CompletedCheckpointStorageLocation;
import org.apache.flink.runtime.state.OperatorStateHandle;
import org.apache.flink.runtime.state.filesystem.AbstractFsCheckpointStorageAccess;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * The watermark the hourly windows restored with this run's state (NULL: none).
 *
 * Flink's window table function restores its watermark from the checkpoint
 * (FLINK-24501) while the Kafka source starts its watermarks anew, so after a
 * restore the windows drop an event whose hour fired before the checkpoint,
 * which CURRENT_WATERMARK still lets through as on time. The lateness split
 * (sql/metering/30_watermark.sql) also judges by this value, so such an event
 * is captured as late instead of being dropped between the two.
 *
 * The value is read from the state the tasks restore: the newest checkpoint of
 * this job (a failover restores the newest completed one), or else the
 * savepoint or checkpoint the job was started from (job parameter
 * aforo.restore.start). It is the greatest "watermark" union-list entry of the
 * window operators in that checkpoint's metadata: never below the watermark
 * the windows restored, as a window's watermark only grows from one checkpoint
 * to the next.
 */
public final class RestoredWatermark extends ScalarFunction {

    private static final long serialVersionUID = 1L;
    /** The union-list state in which WindowAggOperator keeps its watermark. */
    static final String WATERMARK_STATE = "watermark";
    public static final String CHECKPOINTS_PARAMETER = "aforo.restore.checkpoints";
    public static final String START_PARAMETER = "aforo.restore.start";

    /** Flink's internal form, read once: eval hands it out per event without a conversion. */
    private transient TimestampData restored;

    @Override
    public void open(FunctionContext context) throws Exception {
        String checkpoints = context.getJobParameter(CHECKPOINTS_PARAMETER, "");
        String start = context.getJobParameter(START_PARAMETER, "");
        String jobId = context.getMetricGroup().getAllVariables().get("<job_id>");
        Long millis = null;
        if (!checkpoints.isEmpty() && jobId != null) {
            millis = newestCheckpointWatermark(new Path(checkpoints, jobId), getClass().getClassLoader());
        }
        if (millis == null && !start.isEmpty()) {
            millis = watermark(start, getClass().getClassLoader());
        }
        restored = millis == null || millis == Long.MIN_VALUE ? null : TimestampData.fromEpochMillis(millis);
    }

    public @DataTypeHint(value = "TIMESTAMP(3)", bridgedTo = TimestampData.class) TimestampData eval() {
        return restored;
    }

    @Override
    public boolean isDeterministic() {
        return false;  // read when the tasks start, never folded into the plan
    }

    /** The watermark in this job's newest readable checkpoint (chk-N with its _metadata), or null. */
    static Long newestCheckpointWatermark(Path jobDir, ClassLoader classLoader) throws IOException {
        FileSystem fs = jobDir.getFileSystem();
        if (!fs.exists(jobDir)) {
            return null;
        }
        List<Path> checkpoints = new ArrayList<>();
        for (FileStatus status : fs.listStatus(jobDir)) {
            String name = status.getPath().getName();
            if (status.isDir() && name.matches("chk-\\d+")
                    && fs.exists(new Path(status.getPath(), "_metadata"))) {
                checkpoints.add(status.getPath());
            }
        }
        checkpoints.sort(Comparator.comparingLong((Path p) -> Long.parseLong(p.getName().substring(4))).reversed());
        for (Path checkpoint : checkpoints) {
            try {
                return watermark(checkpoint.toString(), classLoader);
            } catch (IOException | RuntimeException unreadable) {
                // metadata cut short by a crash: that checkpoint never completed, so no
                // task restores it; an older one is what they restore.
            }
        }
        return null;
    }

    /** The greatest window watermark in a checkpoint's or savepoint's metadata (null: no window state). */
    static Long watermark(String pointer, ClassLoader classLoader) throws IOException {
        CompletedCheckpointStorageLocation location =
                AbstractFsCheckpointStorageAccess.resolveCheckpointPointer(pointer);
        CheckpointMetadata metadata;
        try (DataInputStream in = new DataInputStream(location.getMetadataHandle().openInputStream())) {
            metadata = Checkpoints.loadCheckpointMetadata(in, classLoader, location.getExternalPointer());
        }
        Long max = null;
        for (OperatorState operator : metadata.getOperatorStates()) {
            for (OperatorSubtaskState subtask : operator.getStates()) {
                for (OperatorStateHandle handle : subtask.getManagedOperatorState()) {
                    OperatorStateHandle.StateMetaInfo info =
                            handle.getStateNameToPartitionOffsets().get(WATERMARK_STATE);
                    if (info == null) {
                        continue;
                    }
                    try (FSDataInputStream stream = handle.openInputStream()) {
                        DataInputViewStreamWrapper view = new DataInputViewStreamWrapper(stream);
                        for (long offset : info.getOffsets()) {
                            stream.seek(offset);
                            long value = LongSerializer.INSTANCE.deserialize(view);
                            max = max == null ? value : Math.max(max, value);
                        }
                    }
                }
            }
        }
        return max;
    }
}
