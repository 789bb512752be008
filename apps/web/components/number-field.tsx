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

/** A labelled number input that may be left empty (`placeholder` says what empty means). */
export function OptionalNumberField(props: {
  id: string;
  label: string;
  /** The text typed; '' when empty. */
  value: string;
  min: number;
  max: number;
  placeholder: string;
  onChange: (value: string) => void;
}) {
  return (
    <div className="field">
      <label htmlFor={props.id}>{props.label}</label>
      <input
        id={props.id}
        type="number"
        min={props.min}
        max={props.max}
        placeholder={props.placeholder}
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
      />
    </div>
  );
}
