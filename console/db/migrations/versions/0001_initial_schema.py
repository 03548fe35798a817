"""Initial schema: the contract's tables, the warning and run ledgers, the audit, APScheduler's store.

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 16:16:22.651227
"""

from alembic import op
import sqlalchemy as sa
import console.db.column_types


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('apscheduler_jobs',
    sa.Column('id', sa.Unicode(length=191), nullable=False),
    sa.Column('next_run_time', sa.Float(precision=25), nullable=True),
    sa.Column('job_state', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apscheduler_jobs'))
    )
    with op.batch_alter_table('apscheduler_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apscheduler_jobs_next_run_time'), ['next_run_time'], unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', console.db.column_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('job_id', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_at', ['at'], unique=False)

    op.create_table('job_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('job_id', sa.String(length=64), nullable=False),
    sa.Column('trigger_kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('scheduled_for', console.db.column_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', console.db.column_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', console.db.column_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('counts', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('traceback', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=128), nullable=True),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('pid', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_runs'))
    )
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.create_index('ix_job_runs_job_id_id', ['job_id', 'id'], unique=False)
        batch_op.create_index('ix_job_runs_running', ['job_id'], unique=False, postgresql_where=sa.text("status = 'running'"), sqlite_where=sa.text("status = 'running'"))

    op.create_table('users',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('is_admin', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_admin', ['id'], unique=False, postgresql_where=sa.text('is_admin'), sqlite_where=sa.text('is_admin'))

    op.create_table('tasks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Float(), nullable=True),
    sa.Column('time_progress', sa.Float(), nullable=True),
    sa.Column('expected_start_time', console.db.column_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expected_end_time', console.db.column_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('actual_start_time', console.db.column_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('actual_end_time', console.db.column_types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('current_handler_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', console.db.column_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', console.db.column_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_reset_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['current_handler_id'], ['users.id'], name=op.f('fk_tasks_current_handler_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks'))
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_closed_updated', ['updated_at'], unique=False, postgresql_where=sa.text("status = 'closed'"), sqlite_where=sa.text("status = 'closed'"))
        batch_op.create_index('ix_tasks_current_handler_id', ['current_handler_id'], unique=False)
        batch_op.create_index('ix_tasks_last_reset_run_id', ['last_reset_run_id'], unique=False)
        batch_op.create_index('ix_tasks_periodic_finished', ['actual_end_time'], unique=False, postgresql_where=sa.text("category = 'periodic' AND status IN ('completed', 'closed')"), sqlite_where=sa.text("category = 'periodic' AND status IN ('completed', 'closed')"))
        batch_op.create_index('ix_tasks_processing_window', ['expected_end_time', 'expected_start_time'], unique=False, postgresql_where=sa.text("status = 'processing'"), sqlite_where=sa.text("status = 'processing'"))
        batch_op.create_index('ix_tasks_status', ['status'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('task_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('is_read', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('created_at', console.db.column_types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_notifications_task_id_tasks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_read_created', ['created_at'], unique=False, postgresql_where=sa.text('is_read'), sqlite_where=sa.text('is_read'))
        batch_op.create_index('ix_notifications_task_id', ['task_id'], unique=False)
        batch_op.create_index('ix_notifications_user_id', ['user_id'], unique=False)

    op.create_table('warning_ledger',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('task_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('window_start', console.db.column_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_end', console.db.column_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('repeat_no', sa.Integer(), nullable=False),
    sa.Column('sent_at', console.db.column_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_warning_ledger_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_warning_ledger')),
    sa.UniqueConstraint('task_id', 'level', 'window_start', 'window_end', 'repeat_no', name=op.f('uq_warning_ledger_task_id_level_window_start_window_end_repeat_no'))
    )
    with op.batch_alter_table('warning_ledger', schema=None) as batch_op:
        batch_op.create_index('ix_warning_ledger_run_id', ['run_id'], unique=False)
        batch_op.create_index('ix_warning_ledger_sent_at', ['sent_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('warning_ledger', schema=None) as batch_op:
        batch_op.drop_index('ix_warning_ledger_sent_at')
        batch_op.drop_index('ix_warning_ledger_run_id')

    op.drop_table('warning_ledger')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user_id')
        batch_op.drop_index('ix_notifications_task_id')
        batch_op.drop_index('ix_notifications_read_created', postgresql_where=sa.text('is_read'), sqlite_where=sa.text('is_read'))

    op.drop_table('notifications')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_status')
        batch_op.drop_index('ix_tasks_processing_window', postgresql_where=sa.text("status = 'processing'"), sqlite_where=sa.text("status = 'processing'"))
        batch_op.drop_index('ix_tasks_periodic_finished', postgresql_where=sa.text("category = 'periodic' AND status IN ('completed', 'closed')"), sqlite_where=sa.text("category = 'periodic' AND status IN ('completed', 'closed')"))
        batch_op.drop_index('ix_tasks_last_reset_run_id')
        batch_op.drop_index('ix_tasks_current_handler_id')
        batch_op.drop_index('ix_tasks_closed_updated', postgresql_where=sa.text("status = 'closed'"), sqlite_where=sa.text("status = 'closed'"))

    op.drop_table('tasks')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_admin', postgresql_where=sa.text('is_admin'), sqlite_where=sa.text('is_admin'))

    op.drop_table('users')
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_job_runs_running', postgresql_where=sa.text("status = 'running'"), sqlite_where=sa.text("status = 'running'"))
        batch_op.drop_index('ix_job_runs_job_id_id')

    op.drop_table('job_runs')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_at')

    op.drop_table('audit_log')
    with op.batch_alter_table('apscheduler_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apscheduler_jobs_next_run_time'))

    op.drop_table('apscheduler_jobs')
