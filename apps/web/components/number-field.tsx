/** A labelled number input; with `left`, what the quota leaves of it is shown beside it. */
export function NumberField(props: {
  id: string;
  label: string;
  value: number;
  min: number;
  max: number;
  step?: number;
  left?: number | undefined;
  onChange: (value: number) => void;
}) {
  return (
    <div className="field">
      <label htmlFor={props.id}>{props.label}</label>
      <input
        id={props.id}
        type="number"
        value={props.value}
        min={props.min}
        max={props.max}
        step={props.step ?? 1}
        required
        onChange={(e) => props.onChange(Number(e.target.value))}
        {...(props.left === undefined ? {} : { 'aria-describedby': `${props.id}-left` })}
      />
      {props.left !== undefined && (
        <span id={`${props.id}-left`} className="muted small">
          {props.left} left
        </span>
      )}
    </div>
  );
}
